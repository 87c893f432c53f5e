import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import { listen } from 'soap';

const NS = 'http://pbx.example/calls';

/** A document/literal WSDL with a SOAP 1.1 and a SOAP 1.2 binding for UpdateCallStatus. */
export function callStatusWsdl(base: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<definitions name="CallStatus" targetNamespace="${NS}" xmlns="http://schemas.xmlsoap.org/wsdl/"
  xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/"
  xmlns:tns="${NS}" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <types>
    <xsd:schema targetNamespace="${NS}" elementFormDefault="qualified">
      <xsd:element name="UpdateCallStatusRequest">
        <xsd:complexType><xsd:sequence>
          <xsd:element name="callId" type="xsd:string"/>
          <xsd:element name="ramal" type="xsd:string"/>
          <xsd:element name="status" type="xsd:string"/>
          <xsd:element name="duration" type="xsd:int"/>
        </xsd:sequence></xsd:complexType>
      </xsd:element>
      <xsd:element name="UpdateCallStatusResponse">
        <xsd:complexType><xsd:sequence>
          <xsd:element name="accepted" type="xsd:boolean"/>
          <xsd:element name="ticket" type="xsd:string"/>
        </xsd:sequence></xsd:complexType>
      </xsd:element>
    </xsd:schema>
  </types>
  <message name="UpdateCallStatusInput"><part name="body" element="tns:UpdateCallStatusRequest"/></message>
  <message name="UpdateCallStatusOutput"><part name="body" element="tns:UpdateCallStatusResponse"/></message>
  <portType name="CallStatusPortType">
    <operation name="UpdateCallStatus"><input message="tns:UpdateCallStatusInput"/><output message="tns:UpdateCallStatusOutput"/></operation>
  </portType>
  <binding name="CallStatusBinding" type="tns:CallStatusPortType">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <operation name="UpdateCallStatus">
      <soap:operation soapAction="${NS}/UpdateCallStatus"/>
      <input><soap:body use="literal"/></input><output><soap:body use="literal"/></output>
    </operation>
  </binding>
  <binding name="CallStatusBinding12" type="tns:CallStatusPortType">
    <soap12:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <operation name="UpdateCallStatus">
      <soap12:operation soapAction="${NS}/UpdateCallStatus"/>
      <input><soap12:body use="literal"/></input><output><soap12:body use="literal"/></output>
    </operation>
  </binding>
  <service name="CallStatusService">
    <port name="CallStatusPort" binding="tns:CallStatusBinding"><soap:address location="${base}/calls"/></port>
    <port name="CallStatusPort12" binding="tns:CallStatusBinding12"><soap12:address location="${base}/calls"/></port>
  </service>
</definitions>`;
}

export interface SoapFake {
  url: string;
  calls: Array<Record<string, unknown>>;
  /** The headers of every POST (SOAP call) received. */
  posted: Array<IncomingHttpHeaders>;
  close(): Promise<void>;
}

/** A real SOAP server (the `soap` package) answering UpdateCallStatus with a ticket. */
export async function startSoapServer(): Promise<SoapFake> {
  const calls: Array<Record<string, unknown>> = [];
  const server: Server = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const service = {
    CallStatusService: {
      CallStatusPort: {
        UpdateCallStatus(args: Record<string, unknown>) {
          calls.push(args);
          return { accepted: true, ticket: `T-${String(args['callId'])}` };
        },
      },
    },
  };
  await new Promise<void>((resolve) => listen(server, '/calls', service, callStatusWsdl(url), () => resolve()));
  // Once listening: the soap package takes over the server's request listeners then.
  const posted: IncomingHttpHeaders[] = [];
  server.prependListener('request', (req: IncomingMessage) => {
    if (req.method === 'POST') posted.push(req.headers);
  });
  return { url, calls, posted, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
