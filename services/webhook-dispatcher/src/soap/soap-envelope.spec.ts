import { buildEnvelope, parseSoapResponse, parseXml, soapHeaders } from './soap-envelope';
import { bytesOf, soapResponse, wsdl, xmlAttacks } from '../../test/fakes.xml-attacks';

describe('SOAP envelopes', () => {
  it('builds 1.1 and 1.2 envelopes with XML-escaped parameter values and the right headers', () => {
    const params = [{ name: 'callId', value: '{id}' }];
    const v11 = buildEnvelope({ version: '1.1', namespace: 'urn:x', element: 'Op', params, context: { id: 'a<&>' } });
    expect(v11).toContain('xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"');
    expect(v11).toContain('<tns:Op><tns:callId>a&lt;&amp;&gt;</tns:callId></tns:Op>');
    const v12 = buildEnvelope({ version: '1.2', namespace: 'urn:x', element: 'Op', params, context: { id: '1' } });
    expect(v12).toContain('xmlns:soap="http://www.w3.org/2003/05/soap-envelope"');
    expect(soapHeaders('1.1', 'urn:x/Op')).toEqual({ 'Content-Type': 'text/xml; charset=utf-8', SOAPAction: '"urn:x/Op"' });
    expect(soapHeaders('1.2', 'urn:x/Op')).toEqual({ 'Content-Type': 'application/soap+xml; charset=utf-8; action="urn:x/Op"' });
    expect(() => buildEnvelope({ version: '1.1', namespace: 'urn:x', element: 'Op', params: [{ name: 'a b', value: '' }], context: {} })).toThrow();
  });

  it('refuses DOCTYPE and ENTITY declarations', () => {
    expect(() => parseXml('<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>')).toThrow(/DOCTYPE/);
    expect(() => parseXml('<a><!ENTITY x "y"></a>')).toThrow(/ENTITY/);
  });

  describe.each(xmlAttacks('http://127.0.0.1:9'))('refuses $id without expanding anything', (attack) => {
    it.each([
      ['as a WSDL', () => parseXml(bytesOf(attack, wsdl(attack)).toString('utf8'))],
      ['as a SOAP response', () => parseSoapResponse(bytesOf(attack, soapResponse(attack)).toString('utf8'))],
    ])('%s', (_where, parse) => {
      const started = performance.now();
      expect(parse).toThrow(/DOCTYPE or ENTITY declarations|NUL characters/);
      // Refused before parsing: the quadratic blowup alone would be 2.5 GB of text once expanded.
      expect(performance.now() - started).toBeLessThan(1_000);
    });
  });

  it('leaves a reference to an entity nobody declared as the text it is', () => {
    expect(parseSoapResponse(soapResponse({ id: 'undeclared', prolog: '', content: '&lol9;&x;' })).body).toEqual({ Res: { msg: '&lol9;&x;' } });
  });

  it('turns a response into JSON and reports faults', () => {
    const ok = parseSoapResponse('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><r:Res xmlns:r="urn:x"><r:url>https://x/1</r:url></r:Res></s:Body></s:Envelope>');
    expect(ok).toEqual({ body: { Res: { url: 'https://x/1' } } });
    const fault = parseSoapResponse('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Reason>bad</s:Reason></s:Fault></s:Body></s:Envelope>');
    expect(fault.fault).toEqual({ Reason: 'bad' });
  });

  it('refuses an answer that is not a SOAP envelope: a 2xx HTML or JSON page is no successful call', () => {
    for (const xml of ['<html><body>Service Unavailable</body></html>', '<Res><ok>true</ok></Res>', '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"/>']) {
      expect(() => parseSoapResponse(xml)).toThrow(/not a SOAP envelope/);
    }
    expect(parseSoapResponse('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>').fault).toBeUndefined();
  });

  it('keeps what the system sent: leading zeros, amounts, long ids as strings; entities and character references decoded', () => {
    const { body } = parseSoapResponse(
      '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><r:Res xmlns:r="urn:x" r:code="007">' +
      '<cpf>01234567890</cpf><cep>01310100</cep><valor>1.50</valor><protocolo>12345678901234567890</protocolo><n>42</n><neg>-3.5</neg>' +
      '<ok>true</ok><url>https://pay.example/b?id=1&amp;t=2</url><msg>S&#227;o Paulo &lt;SP&gt; &#x2713;</msg><h>0x1F</h><e>1e5</e></r:Res></s:Body></s:Envelope>',
    );
    expect(body).toEqual({ Res: {
      '@code': '007', cpf: '01234567890', cep: '01310100', valor: '1.50', protocolo: '12345678901234567890', n: 42, neg: -3.5,
      ok: true, url: 'https://pay.example/b?id=1&t=2', msg: 'São Paulo <SP> ✓', h: '0x1F', e: '1e5',
    } });
  });
});
