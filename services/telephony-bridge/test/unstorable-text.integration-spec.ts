import { startHarness, type Harness, type Tenant } from './support/harness';

/** What PostgreSQL refuses in text (U+0000) and in jsonb (U+0000, a lone surrogate). */
const BAD = [['U+0000', 'a\u0000b'], ['a lone surrogate', 'a\ud800b']] as const;

/**
 * Every route that stores (or looks up) text a client or a PBX sent, with U+0000 and a lone surrogate in each string
 * field: never a 500. Free text (names, templates) is kept with U+FFFD in their place; what must have a form (an
 * extension, a phone, a host, a header value) is a 400 naming the field.
 */
describe('telephony-bridge: U+0000 and lone surrogates in what clients and PBXs send', () => {
  let h: Harness;
  let t: Tenant;
  let profile: { id: string };
  let seq = 0;

  beforeAll(async () => {
    h = await startHarness('telephony_unstorable');
    t = await h.tenant();
    profile = await h.profile(t);
  });
  afterAll(async () => h?.close());

  const create = (fields: Record<string, unknown>) => h.api('POST', '/pbx-profiles', t.headers, { name: `p${++seq}`, allowedCidrs: [], ...fields });
  const request = (r: Record<string, unknown>) => ({ request: { method: 'POST', url: 'http://pbx/c2c', ...r }, callId: { from: 'text' } });
  const patch = async (fields: Record<string, unknown>) => h.api('PATCH', `/pbx-profiles/${(await h.profile(t)).id}`, t.headers, fields);
  const answered = (q: Record<string, string>) => h.api('POST', `/telephony/${profile.id}/answered`, {}, { cid: `${Date.now()}.${++seq}`, ramal: '2001', num: '41988445566', ...q });
  const ended = (q: Record<string, string>) => h.api('POST', `/telephony/${profile.id}/ended`, {}, { cid: `${Date.now()}.${++seq}`, ...q });

  /** One field, and the answer it gets: `kept` (2xx, U+FFFD in their place) or a 400 naming the field given. */
  const CASES: Array<{ field: string; send: (bad: string) => Promise<{ status: number; body: unknown }>; answer: string }> = [
    { field: 'POST /pbx-profiles name', send: (bad) => create({ name: `${bad}${++seq}` }), answer: 'kept' },
    { field: 'POST /pbx-profiles allowedCidrs', send: (bad) => create({ allowedCidrs: [bad] }), answer: 'allowedCidrs' },
    { field: 'POST /pbx-profiles callbackToken', send: (bad) => create({ callbackToken: `${bad}0123456789abcdef` }), answer: 'kept' },
    { field: 'POST /pbx-profiles chave', send: (bad) => create({ chave: bad }), answer: 'kept' },
    { field: 'POST /pbx-profiles pbxHost', send: (bad) => create({ pbxHost: bad }), answer: 'pbxHost' },
    { field: 'POST /pbx-profiles baseUrl', send: (bad) => create({ preset: 'generic-http', baseUrl: `http://pbx/${bad}` }), answer: 'kept' },
    { field: 'POST /pbx-profiles ariContext, ariEndpoint', send: (bad) => create({ preset: 'asterisk-ari', baseUrl: 'http://pbx', ariContext: bad, ariEndpoint: bad }), answer: 'kept' },
    { field: 'POST /pbx-profiles click2call.request.url', send: (bad) => create({ click2call: request({ url: `http://pbx/${bad}` }) }), answer: 'kept' },
    { field: 'POST /pbx-profiles click2call.request.headers value', send: (bad) => create({ click2call: request({ headers: [{ name: 'X-A', value: bad }] }) }), answer: 'header X-A' },
    { field: 'POST /pbx-profiles click2call.request.query key, value', send: (bad) => create({ click2call: request({ query: [{ key: bad, value: bad }] }) }), answer: 'kept' },
    { field: 'POST /pbx-profiles click2call.request.body template', send: (bad) => create({ click2call: request({ body: { kind: 'json', template: `{"a": "${bad}"}` } }) }), answer: 'kept' },
    { field: 'POST /pbx-profiles click2call.request.body pairs', send: (bad) => create({ click2call: request({ body: { kind: 'form', pairs: [{ key: bad, value: bad }] } }) }), answer: 'kept' },
    { field: 'POST /pbx-profiles click2call.callId.path', send: (bad) => create({ click2call: { request: { method: 'POST', url: 'http://pbx/c2c' }, callId: { from: 'json', path: bad } } }), answer: 'click2call.callId.path' },
    { field: 'POST /pbx-profiles recording.request.url', send: (bad) => create({ recording: { request: { method: 'GET', url: `http://pbx/${bad}` } } }), answer: 'kept' },
    { field: 'PATCH /pbx-profiles/:id name', send: (bad) => patch({ name: `${bad}${++seq}` }), answer: 'kept' },
    { field: 'PATCH /pbx-profiles/:id callbackToken, chave', send: (bad) => patch({ callbackToken: `${bad}0123456789abcdef`, chave: bad }), answer: 'kept' },
    { field: 'PATCH /pbx-profiles/:id pbxHost', send: (bad) => patch({ pbxHost: bad }), answer: 'pbxHost' },
    { field: 'PATCH /pbx-profiles/:id allowedCidrs', send: (bad) => patch({ allowedCidrs: [bad] }), answer: 'allowedCidrs' },
    { field: 'PATCH /pbx-profiles/:id click2call', send: (bad) => patch({ click2call: request({ url: `http://pbx/${bad}` }) }), answer: 'kept' },
    { field: 'POST /telephony/:profile/answered cid', send: (bad) => answered({ cid: bad }), answer: 'cid' },
    { field: 'POST /telephony/:profile/answered ramal', send: (bad) => answered({ ramal: bad }), answer: 'ramal' },
    { field: 'POST /telephony/:profile/answered num', send: (bad) => answered({ num: bad }), answer: 'num' },
    { field: 'POST /telephony/:profile/answered pid', send: (bad) => answered({ pid: bad }), answer: 'kept' },
    { field: 'POST /telephony/:profile/answered empresaId', send: (bad) => answered({ empresaId: bad }), answer: 'empresaId' },
    { field: 'POST /telephony/:profile/ended cid', send: (bad) => ended({ cid: bad }), answer: 'cid' },
    { field: 'POST /telephony/:profile/ended duration', send: (bad) => ended({ duration: bad }), answer: 'duration' },
    { field: 'POST /telephony/:profile/ended disposition', send: (bad) => ended({ disposition: bad }), answer: 'disposition' },
    { field: 'POST /telephony/:profile/ended num', send: (bad) => ended({ num: bad }), answer: 'num' },
    { field: 'POST /calls ramal', send: (bad) => h.api('POST', '/calls', t.headers, { ramal: bad, telefone: '41988445566', profileId: profile.id }), answer: 'ramal' },
    { field: 'POST /calls telefone', send: (bad) => h.api('POST', '/calls', t.headers, { ramal: '2001', telefone: bad, profileId: profile.id }), answer: 'telefone' },
    { field: 'POST /calls profileId', send: (bad) => h.api('POST', '/calls', t.headers, { ramal: '2001', telefone: '41988445566', profileId: bad }), answer: 'profileId' },
  ];

  for (const [what, bad] of BAD) {
    it.each(CASES)(`${what} in $field: $answer, not a 500`, async ({ send, answer }) => {
      const res = await send(bad);
      if (answer === 'kept') {
        expect(res.status).toBeLessThan(300);
        expect(JSON.stringify(res.body)).not.toMatch(/\\u(0000|d800)/);
      } else {
        expect(res).toMatchObject({ status: 400, body: { detail: expect.stringContaining(answer) } });
      }
    });
  }

  it('U+0000 (%00) in a URL: GET callbacks, a recording\'s call id and profile, an extension\'s stream token: not a 500', async () => {
    for (const path of [
      `/telephony/${profile.id}/answered?cid=1.1&ramal=a%00b&num=41988445566`, `/telephony/${profile.id}/answered?cid=1.2&ramal=2001&num=41988445566&pid=a%00b`,
      `/telephony/${profile.id}/ended?cid=a%00b`, `/telephony/${profile.id}/ended?cid=1.3&disposition=a%00b`,
      `/calls/a%00b/recording?profileId=${profile.id}`, '/calls/1.4/recording?profileId=a%00b',
    ]) {
      expect((await h.api('GET', path, t.headers)).status).toBeLessThan(500);
    }
    expect((await h.api('POST', '/operators/a%00b/stream-tokens', t.headers)).status).toBe(400);
  });
});
