import { createEvent } from '@elo/contracts';
import { Webhook } from 'standardwebhooks';
import { maskHeaders, masker, renderHttp, signatureHeaders, templateContext, truncate } from './request-builder';

describe('request builder', () => {
  const event = createEvent({
    type: 'chat.message.received',
    tenantId: 't1',
    source: 'elo://test',
    data: { conversationId: 'c1', contact: { name: 'Ana', attributes: { cpf: '123', email: 'a@x.io' } }, message: { kind: 'text', text: 'boleto' } },
  });

  it('renders URL, headers as lines, bracket-key body and auth helpers from event, attributes and secrets', () => {
    const ctx = templateContext(event, { apiKey: 'sk_live_123456789' });
    const r = renderHttp(
      {
        method: 'POST',
        url: 'https://crm.example/api/{contact.attributes.cpf}',
        headers: 'X-Tenant: {event.tenantId}\nX-Conv: {conversationId}',
        body: { kind: 'keyvalue', pairs: [{ key: 'deal[name]', value: '{contact.name}' }, { key: 'contacts[0][email]', value: '{attributes.email}' }] },
        auth: { type: 'bearer', token: '{secret.apiKey}' },
      },
      ctx,
    );
    expect(r.url).toBe('https://crm.example/api/123');
    expect(r.headers).toMatchObject({ 'X-Tenant': 't1', 'X-Conv': 'c1', Authorization: 'Bearer sk_live_123456789' });
    expect(r.builtJson).toEqual({ deal: { name: 'Ana' }, contacts: [{ email: 'a@x.io' }] });
    const basic = renderHttp({ method: 'GET', url: 'https://x.example/', auth: { type: 'basic', username: 'u', password: '{secret.apiKey}' } }, ctx);
    expect(basic.headers['Authorization']).toBe(`Basic ${Buffer.from('u:sk_live_123456789').toString('base64')}`);
  });

  it('the API-key helper sends the key in X-API-Key, or in the header it names, and the key is masked in the log', () => {
    const ctx = templateContext(event, { apiKey: 'sk_live_123456789' });
    const byDefault = renderHttp({ method: 'POST', url: 'https://x.example/', auth: { type: 'apiKey', value: '{secret.apiKey}' } }, ctx);
    expect(byDefault.headers).toMatchObject({ 'X-API-Key': 'sk_live_123456789' });
    expect(byDefault.headers['Authorization']).toBeUndefined();
    const named = renderHttp({ method: 'GET', url: 'https://x.example/', auth: { type: 'apiKey', header: 'X-Auth-Token', value: 'k-{secret.apiKey}' } }, ctx);
    expect(named.headers).toMatchObject({ 'X-Auth-Token': 'k-sk_live_123456789' });
    expect(named.headers['X-API-Key']).toBeUndefined();
    expect(maskHeaders(named.headers, masker({ apiKey: 'sk_live_123456789' }))['X-Auth-Token']).toBe('k-••••');
  });

  it('sends a raw text/* body as written, unescaped, with its content type', () => {
    const ctx = templateContext(event, {});
    const plain = renderHttp({ method: 'POST', url: 'https://x.example/', body: { kind: 'raw', contentType: 'text/plain; charset=utf-8', template: 'Conversa {conversationId}: "{message.text}" <b> & {contact.name}\nfim' } }, ctx);
    expect(plain.body).toBe('Conversa c1: "boleto" <b> & Ana\nfim');
    expect(plain.headers['Content-Type']).toBe('text/plain; charset=utf-8');
    expect(plain.builtJson).toBeUndefined();
    const csv = renderHttp({ method: 'PUT', url: 'https://x.example/', body: { kind: 'raw', contentType: 'text/csv', template: 'cpf,email\n{attributes.cpf},{attributes.email}' } }, ctx);
    expect(csv.body).toBe('cpf,email\n123,a@x.io');
    expect(csv.headers['Content-Type']).toBe('text/csv');
  });

  it("takes the event's fields under the name of the entity its type names too, a field of that name winning", () => {
    const call = { id: 'e2', type: 'telephony.call.ended', time: '2026-12-04T12:00:00Z', tenantid: 't1', data: { callId: 'k1', ramal: '2001', telefone: '+5541999990000' } };
    const rendered = renderHttp({ method: 'GET', url: 'https://x.example/calls/{call.callId}?ramal={call.ramal}&same={ramal}' }, templateContext(call, {}));
    expect(rendered.url).toBe('https://x.example/calls/k1?ramal=2001&same=2001');
    const checked = { ...call, type: 'viability.checked', data: { status: 'viable' } };
    expect(renderHttp({ method: 'GET', url: 'https://x.example/{viability.status}' }, templateContext(checked, {})).url).toBe('https://x.example/viable');
    // chat.message.received has a `message` field of its own: {message.text} stays the message's text.
    expect(renderHttp({ method: 'GET', url: 'https://x.example/?q={message.text}' }, templateContext(event, {})).url).toBe('https://x.example/?q=boleto');
  });

  it('masks secret values and credential headers', () => {
    const mask = masker({ apiKey: 'sk_live_123456789' });
    expect(mask('https://x/?k=sk_live_123456789')).toBe('https://x/?k=••••');
    expect(maskHeaders({ Authorization: 'Bearer sk_live_123456789', 'X-Key': 'sk_live_123456789', A: 'b' }, mask))
      .toEqual({ Authorization: 'Bearer ••••', 'X-Key': '••••', A: 'b' });
  });

  it('masks a secret in every form a request can carry it: URL, form, JSON and XML escaped, base64', () => {
    const secret = 'k+y/Z=9 "x"&<é>';
    const ctx = templateContext(event, { apiKey: secret });
    const mask = masker({ apiKey: secret });
    const query = renderHttp({ method: 'GET', url: 'https://x.example/p/{secret.apiKey}', query: [{ key: 'token', value: '{secret.apiKey}' }] }, ctx);
    const form = renderHttp({ method: 'POST', url: 'https://x.example/', body: { kind: 'form', pairs: [{ key: 'key', value: '{secret.apiKey}' }] } }, ctx);
    const json = renderHttp({ method: 'POST', url: 'https://x.example/', body: { kind: 'keyvalue', pairs: [{ key: 'auth[key]', value: '{secret.apiKey}' }] } }, ctx);
    const xml = renderHttp({ method: 'POST', url: 'https://x.example/', body: { kind: 'raw', contentType: 'application/xml', template: '<k a="{secret.apiKey}">{secret.apiKey}</k>' } }, ctx);
    const b64 = Buffer.from(secret).toString('base64');
    for (const text of [query.url, form.body ?? '', json.body ?? '', xml.body ?? '', `X-Token: ${b64}`]) {
      expect(text).not.toBe(mask(text));
      const masked = mask(text);
      for (const leak of [secret, encodeURIComponent(secret), 'k%2By%2FZ%3D9', 'k+y/Z=9', b64]) expect(masked).not.toContain(leak);
    }
  });

  it('masks a secret with surrounding spaces as a header sends it: trimmed', () => {
    const secrets = { key: ' abc123 ', tail: 'xyz789\t' };
    const ctx = templateContext(event, secrets);
    const mask = masker(secrets);
    const sent = renderHttp({ method: 'GET', url: 'https://x.example/', headers: 'X-Key: {secret.key}\nX-Tail: t={secret.tail}', query: [{ key: 'k', value: '{secret.key}' }] }, ctx);
    expect(sent.headers).toMatchObject({ 'X-Key': 'abc123', 'X-Tail': 't=xyz789' });
    expect(maskHeaders(sent.headers, mask)).toMatchObject({ 'X-Key': '••••', 'X-Tail': 't=••••' });
    // An endpoint echoing the header back, and the untrimmed forms as before.
    expect(mask('{"x-key":"abc123","x-tail":"t=xyz789"}')).toBe('{"x-key":"••••","x-tail":"t=••••"}');
    expect(mask(sent.url)).toBe('https://x.example/?k=••••');
  });

  it('signs with Standard Webhooks headers that the standardwebhooks package verifies', () => {
    const secret = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
    const headers = signatureHeaders([secret], 'msg_1', '{"a":1}');
    expect(new Webhook(secret).verify('{"a":1}', headers)).toEqual({ a: 1 });
  });

  it('cuts a long text for the attempt log, never between the two halves of an emoji', () => {
    expect(truncate('abcdef', 4)).toBe('abcd…[truncated 2 chars]');
    expect(truncate(`abc😀def`, 4)).toBe('abc…[truncated 5 chars]');
    expect(truncate(`ab😀def`, 4)).toBe('ab😀…[truncated 3 chars]');
  });
});
