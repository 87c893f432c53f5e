import { buildEnvelope, parseXml } from './soap-envelope';
import { findOperation, listOperations, paramQualified, parseWsdl } from './wsdl.service';

/** A small document/literal WSDL; `bindings` and `schemas` are the parts each case varies. */
const wsdl = (opts: { bindings: string; ports: string; schemas: string; part?: string }) => `<?xml version="1.0" encoding="utf-8"?>
<wsdl:definitions targetNamespace="urn:w" xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:tns="urn:w" xmlns:req="urn:req"
  xmlns:s11="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:s12="http://schemas.xmlsoap.org/wsdl/soap12/" xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <wsdl:types>${opts.schemas}</wsdl:types>
  <wsdl:message name="In"><wsdl:part name="parameters" element="${opts.part ?? 'req:OpRequest'}"/></wsdl:message>
  <wsdl:portType name="P"><wsdl:operation name="Op"><wsdl:input message="tns:In"/></wsdl:operation></wsdl:portType>
  ${opts.bindings}
  <wsdl:service name="S">${opts.ports}</wsdl:service>
</wsdl:definitions>`;

const schema = (attrs: string, children = '<xs:element name="callId" type="xs:string"/><xs:element name="ramal" type="xs:string"/>') =>
  `<xs:schema ${attrs}><xs:element name="OpRequest"><xs:complexType><xs:sequence>${children}</xs:sequence></xs:complexType></xs:element></xs:schema>`;

// Real-world naming: nothing in the binding names says which SOAP version each is, and the 1.2 binding comes first.
const bothVersions = {
  bindings: `
  <wsdl:binding name="OpServiceSoapA" type="tns:P"><s12:binding transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="Op"><s12:operation soapAction="urn:w/Op12"/><wsdl:input><s12:body use="literal"/></wsdl:input></wsdl:operation></wsdl:binding>
  <wsdl:binding name="OpServiceSoap12Legacy" type="tns:P"><s11:binding transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="Op"><s11:operation soapAction="urn:w/Op11"/><wsdl:input><s11:body use="literal"/></wsdl:input></wsdl:operation></wsdl:binding>
  <wsdl:binding name="OpServiceHttpGet" type="tns:P"><http:binding verb="GET" xmlns:http="http://schemas.xmlsoap.org/wsdl/http/"/>
    <wsdl:operation name="Op"><http:operation location="/Op" xmlns:http="http://schemas.xmlsoap.org/wsdl/http/"/></wsdl:operation></wsdl:binding>`,
  ports: `
    <wsdl:port name="A" binding="tns:OpServiceSoapA"><s12:address location="http://h/soap12"/></wsdl:port>
    <wsdl:port name="B" binding="tns:OpServiceSoap12Legacy"><s11:address location="http://h/soap11"/></wsdl:port>`,
};

describe('WSDL operation lookup', () => {
  it('tells SOAP 1.1 from 1.2 by the binding\'s namespace, not its name, whichever binding comes first', () => {
    const doc = parseWsdl(wsdl({ ...bothVersions, schemas: schema('targetNamespace="urn:req" elementFormDefault="qualified"') }));
    expect(findOperation(doc, 'Op', '1.1')).toMatchObject({ endpoint: 'http://h/soap11', soapAction: 'urn:w/Op11' });
    expect(findOperation(doc, 'Op', '1.2')).toMatchObject({ endpoint: 'http://h/soap12', soapAction: 'urn:w/Op12' });
    expect(listOperations(doc)).toEqual([{ name: 'Op', versions: ['1.1', '1.2'], soapAction: 'urn:w/Op12', params: [{ name: 'callId', type: 'string' }, { name: 'ramal', type: 'string' }] }]);
    expect(() => findOperation(doc, 'Nope', '1.1')).toThrow(/no operation Nope/);
  });

  it('refuses a version the WSDL has no binding for, rather than sending the other binding\'s action', () => {
    const only12 = { bindings: bothVersions.bindings.split('<wsdl:binding name="OpServiceSoap12Legacy"')[0], ports: bothVersions.ports };
    const doc = parseWsdl(wsdl({ ...only12, schemas: schema('targetNamespace="urn:req"') }));
    expect(() => findOperation(doc, 'Op', '1.1')).toThrow(/no SOAP 1.1 binding/);
    expect(listOperations(doc)[0].versions).toEqual(['1.2']);
  });

  it('takes the request namespace from the schema that declares the element, not the first schema', () => {
    const schemas = `<xs:schema targetNamespace="urn:types" elementFormDefault="qualified"><xs:element name="Other" type="xs:string"/></xs:schema>` +
      schema('targetNamespace="urn:req" elementFormDefault="qualified"');
    const doc = parseWsdl(wsdl({ ...bothVersions, schemas }));
    expect(findOperation(doc, 'Op', '1.1')).toMatchObject({ namespace: 'urn:req', element: 'OpRequest', paramsQualified: true });
    // The same element name in two namespaces: the part's QName picks the schema.
    const twice = schema('targetNamespace="urn:decoy" elementFormDefault="qualified"') + schema('targetNamespace="urn:req"');
    expect(findOperation(parseWsdl(wsdl({ ...bothVersions, schemas: twice })), 'Op', '1.1')).toMatchObject({ namespace: 'urn:req', paramsQualified: false });
  });

  it('honours elementFormDefault (unqualified unless said) and each element\'s form in the envelope', () => {
    const envelope = (schemas: string) => {
      const op = findOperation(parseWsdl(wsdl({ ...bothVersions, schemas })), 'Op', '1.1');
      return buildEnvelope({
        version: '1.1', namespace: op.namespace, element: op.element, context: { id: '7' }, qualified: (n) => paramQualified(op, n),
        params: [{ name: 'callId', value: '{id}' }, { name: 'ramal', value: '200' }],
      });
    };
    expect(envelope(schema('targetNamespace="urn:req"'))).toContain('<tns:OpRequest><callId>7</callId><ramal>200</ramal></tns:OpRequest>');
    expect(envelope(schema('targetNamespace="urn:req" elementFormDefault="unqualified"'))).toContain('<tns:OpRequest><callId>7</callId>');
    expect(envelope(schema('targetNamespace="urn:req" elementFormDefault="qualified"'))).toContain('<tns:OpRequest><tns:callId>7</tns:callId><tns:ramal>200</tns:ramal>');
    const mixed = schema('targetNamespace="urn:req"', '<xs:element name="callId" type="xs:string" form="qualified"/><xs:element name="ramal" type="xs:string"/>');
    expect(envelope(mixed)).toContain('<tns:OpRequest><tns:callId>7</tns:callId><ramal>200</ramal></tns:OpRequest>');
    // What the receiving side reads: the request element in urn:req, the unqualified parameters in no namespace.
    expect(envelope(schema('targetNamespace="urn:req"'))).toContain('xmlns:tns="urn:req"');
  });

  it('still finds an operation in a WSDL that declares no namespaces at all', () => {
    const doc = parseXml(`<definitions targetNamespace="urn:w">
      <types><schema targetNamespace="urn:s" elementFormDefault="qualified"><element name="OpRequest"/></schema></types>
      <message name="In"><part name="body" element="tns:OpRequest"/></message>
      <portType name="P"><operation name="Op"><input message="tns:In"/></operation></portType>
      <binding name="B" type="tns:P"><operation name="Op"><operation soapAction="urn:w/Op"/></operation></binding>
      <service name="S"><port name="Port" binding="tns:B"><address location="http://h/x"/></port></service>
    </definitions>`);
    expect(findOperation(doc, 'Op', '1.1')).toEqual({ endpoint: 'http://h/x', soapAction: 'urn:w/Op', namespace: 'urn:s', element: 'OpRequest', paramsQualified: true });
  });
});
