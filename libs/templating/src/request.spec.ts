import { parseHeaderLines, renderRequest } from './request';
import { TemplateError } from './template-error';

const ctx = {
  contact: { name: 'Ana Souza', phone: '+5511999990000', id: 42 },
  deal: { value: 99.9, items: [{ sku: 'A' }] },
  token: 's3cret',
};

describe('renderRequest', () => {
  it('renders URL, query, headers and a keyvalue body into JSON', () => {
    const r = renderRequest(
      {
        method: 'post',
        url: 'https://crm.example.com/api/contacts/{contact.id}?src=elo',
        query: [{ key: 'phone', value: '{contact.phone}' }],
        headers: 'Authorization: Bearer {token}\nX-Contact: {contact.name}\n\nx-contact: again',
        body: {
          kind: 'keyvalue',
          pairs: [
            { key: 'contact[name]', value: '{contact.name}' },
            { key: 'contact[label]', value: 'Lead {contact.id}' },
            { key: 'deal[value]', value: '{deal.value}' },
            { key: 'deal[items]', value: '{deal.items}' },
            { key: 'tags[]', value: 'whatsapp' },
          ],
        },
      },
      ctx,
    );
    expect(r).toEqual({
      method: 'POST',
      url: 'https://crm.example.com/api/contacts/42?src=elo&phone=%2B5511999990000',
      headers: {
        Authorization: 'Bearer s3cret',
        'X-Contact': 'Ana Souza, again',
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({
        contact: { name: 'Ana Souza', label: 'Lead 42' },
        deal: { value: 99.9, items: [{ sku: 'A' }] },
        tags: ['whatsapp'],
      }),
      contentType: 'application/json',
      builtJson: {
        contact: { name: 'Ana Souza', label: 'Lead 42' },
        deal: { value: 99.9, items: [{ sku: 'A' }] },
        tags: ['whatsapp'],
      },
    });
  });

  it('renders form bodies', () => {
    const r = renderRequest(
      {
        method: 'POST',
        url: 'https://x.example/',
        body: { kind: 'form', pairs: [{ key: 'name', value: '{contact.name}&admin=1' }] },
      },
      ctx,
    );
    expect(r.body).toBe('name=Ana+Souza%26admin%3D1');
    expect(new URLSearchParams(r.body).get('name')).toBe('Ana Souza&admin=1');
    expect(r.headers['Content-Type']).toBe('application/x-www-form-urlencoded');
  });

  it('renders raw JSON and XML bodies with their escaping and keeps an explicit content type header', () => {
    const json = renderRequest(
      {
        method: 'POST',
        url: 'https://x.example/',
        headers: [{ name: 'content-type', value: 'application/vnd.x+json' }],
        body: {
          kind: 'raw',
          contentType: 'application/json; charset=utf-8',
          template: '{"n":"{v}","id":{contact.id}}',
        },
      },
      { ...ctx, v: '"}, "x": {' },
    );
    expect(json.builtJson).toEqual({ n: '"}, "x": {', id: 42 });
    expect(json.headers).toEqual({ 'content-type': 'application/vnd.x+json' });
    const soap = renderRequest(
      {
        method: 'POST',
        url: 'https://x.example/ws',
        body: { kind: 'raw', contentType: 'text/xml', template: '<n>{v}</n>' },
      },
      { v: '</n><admin>1</admin>' },
    );
    expect(soap.body).toBe('<n>&lt;/n&gt;&lt;admin&gt;1&lt;/admin&gt;</n>');
  });

  it('escapes a raw body for JSON under the older text/json media type too', () => {
    const r = renderRequest(
      {
        method: 'POST',
        url: 'https://x.example/',
        body: { kind: 'raw', contentType: 'text/json', template: '{"n":"{v}"}' },
      },
      { v: 'x","admin":true,"y":"' },
    );
    expect(r.builtJson).toEqual({ n: 'x","admin":true,"y":"' });
  });

  it('refuses a raw JSON template that does not render to JSON', () => {
    expect(() =>
      renderRequest(
        {
          method: 'POST',
          url: 'https://x.example/',
          body: { kind: 'raw', contentType: 'application/json', template: '{"a":' },
        },
        ctx,
      ),
    ).toThrow(TemplateError);
  });

  it.each([
    [{ method: 'GET', url: 'https://{host}/x' }],
    [{ method: 'GET', url: 'ftp://x.example/{token}' }],
    [{ method: 'GET', url: '/relative/{token}' }],
    [{ method: 'G T', url: 'https://x.example/' }],
    [{ method: 'GET', url: 'https://x.example/', headers: [{ name: 'X-A', value: '{evil}' }] }],
    [{ method: 'GET', url: 'https://x.example/', headers: [{ name: 'X-A\r\nX-B', value: 'v' }] }],
    [{ method: 'GET', url: 'https://x.example/', headers: 'no colon here' }],
    // CR, LF or another control character written in the header value itself (not only in a token's value).
    [{ method: 'GET', url: 'https://x.example/', headers: [{ name: 'X-A', value: 'a\r\nX-Injected: 1' }] }],
    [{ method: 'GET', url: 'https://x.example/', headers: 'X-A: a\rX-Injected: 1' }],
    [{ method: 'GET', url: 'https://x.example/', headers: [{ name: 'X-A', value: 'a\u0001b' }] }],
  ])('refuses %j', (t) => {
    expect(() => renderRequest(t, { ...ctx, host: 'evil.example', evil: 'a\r\nX-Injected: 1' })).toThrow(
      TemplateError,
    );
  });

  it('adds keys under a token\'s object or array without changing the context it came from', () => {
    const context = { deal: { name: 'Fibra' }, tags: ['vip'] };
    const t = {
      method: 'POST',
      url: 'https://x.example/',
      body: {
        kind: 'keyvalue' as const,
        pairs: [
          { key: 'deal', value: '{deal}' },
          { key: 'deal[source]', value: 'elo' },
          { key: 'tags', value: '{tags}' },
          { key: 'tags[]', value: 'whatsapp' },
        ],
      },
    };
    const expected = { deal: { name: 'Fibra', source: 'elo' }, tags: ['vip', 'whatsapp'] };
    expect(renderRequest(t, context).builtJson).toEqual(expected);
    expect(context).toEqual({ deal: { name: 'Fibra' }, tags: ['vip'] });
    // The same event rendered again (a retry, the next integration) gives the same body.
    expect(renderRequest(t, context).builtJson).toEqual(expected);
  });

  it('applies the missing rule everywhere', () => {
    const t = {
      method: 'POST',
      url: 'https://x.example/{a}',
      body: { kind: 'keyvalue' as const, pairs: [{ key: 'k', value: '{b}' }] },
    };
    expect(() => renderRequest(t, {})).toThrow(expect.objectContaining({ token: 'a' }));
    expect(renderRequest(t, {}, { missing: 'empty' })).toMatchObject({
      url: 'https://x.example/',
      builtJson: { k: '' },
    });
  });
});

describe('parseHeaderLines', () => {
  it('parses name/value lines', () => {
    expect(parseHeaderLines('A: 1\r\n\r\n  B :  two: parts  \n')).toEqual([
      { name: 'A', value: '1' },
      { name: 'B', value: 'two: parts' },
    ]);
  });
  it.each([':x', 'no colon', 'bad name: x'])('refuses %j', (line) => {
    expect(() => parseHeaderLines(line)).toThrow(TemplateError);
  });
});
