import { expectEventually } from '@elo/testing';
import { startHarness, type Harness } from './support/harness';

const SECRET = 'unstorable-app-secret';
/** What PostgreSQL refuses in text (U+0000) and in jsonb (U+0000, a lone surrogate), and what is stored instead. */
const BAD = [['U+0000', 'a\u0000b'], ['a lone surrogate', 'a\ud800b']] as const;
const KEPT = 'a\uFFFDb';

/**
 * Every route that stores (or looks up) text a client sent, with U+0000 and a lone surrogate in each string field:
 * never a 500; the text is kept with U+FFFD in their place, as contacts, messages and channels keep it.
 */
describe('chat-ingress: U+0000 and lone surrogates in what clients send', () => {
  let h: Harness;
  let headers: Record<string, string>;
  /** Another tenant's: a flow saved here would answer (and close) the conversations opened below. */
  let flowHeaders: Record<string, string>;
  let channel: { id: string };
  let phone = 5541966660000;

  beforeAll(async () => {
    h = await startHarness('chat_ingress_unstorable', { CHAT_WORKERS: 'on', FLOW_TICK_MS: '3600000' });
    ({ headers } = await h.tenantKey());
    ({ headers: flowHeaders } = await h.tenantKey());
    channel = (await h.api<{ id: string }>('POST', '/channels', headers, {
      provider: 'whatsapp', name: 'Unstorable', phoneNumberId: 'PNUNST', credentials: { accessToken: 'tok', appSecret: SECRET },
      settings: { botQueue: 'bot', humanQueue: 'atendimento', pickupNotice: 'with_agent_name' },
    })).body;
  });

  afterAll(async () => {
    await h?.close();
  });

  /** A new open conversation (its customer writes first). */
  const open = async (): Promise<{ id: string; contact_id: string }> => {
    const from = String(++phone);
    const body = { object: 'whatsapp_business_account', entry: [{ id: 'W', changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp', metadata: { phone_number_id: 'PNUNST' }, contacts: [{ wa_id: from, profile: { name: 'Cliente' } }],
      messages: [{ from, id: `wamid.UN.${from}`, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: 'oi' } }] } }] }] };
    expect((await h.postMeta('whatsapp', channel.id, JSON.stringify(body), SECRET)).status).toBe(200);
    return expectEventually(async () => {
      const c = (await h.ds.query(`SELECT c.id, c.contact_id FROM chat_ingress.conversations c JOIN chat_ingress.contacts ct ON ct.id = c.contact_id WHERE ct.phone = $1`, [`+${from}`]))[0];
      expect(c).toBeDefined();
      return c;
    });
  };
  const conversation = async (id: string) => (await h.ds.query(`SELECT queue, agent_id, agent_name, close_reason FROM chat_ingress.conversations WHERE id = $1`, [id]))[0];

  /**
   * One field: the request carrying `bad`, and what is stored afterwards (undefined: the answer alone is checked). A URL
   * carries U+0000 (%00) alone: a lone surrogate cannot be percent-encoded.
   */
  const CASES: Array<{ field: string; url?: true; send: (bad: string) => Promise<{ status: number; body: unknown }>; stored?: (answer: unknown) => Promise<unknown> }> = [
    { field: 'PUT /flow step id (key), start and next', send: (bad) => h.api('PUT', '/flow', flowHeaders, { start: 'oi', steps: { oi: { type: 'message', text: 'oi', next: bad }, [bad]: { type: 'close' } } }),
      stored: async (a) => { const d = (a as { definition: { steps: Record<string, { next?: string }> } }).definition; return [d.steps.oi.next, ...Object.keys(d.steps).filter((k) => k !== 'oi')]; } },
    { field: 'PUT /flow step text', send: (bad) => h.api('PUT', '/flow', flowHeaders, { start: 's', steps: { s: { type: 'close', text: bad } } }),
      stored: async (a) => (a as { definition: { steps: { s: { text: string } } } }).definition.steps.s.text },
    { field: 'PUT /queues/:queue/agents agentId', send: (bad) => h.api('PUT', '/queues/q1/agents', headers, { agentId: bad }), stored: async (a) => (a as Array<{ agentId: string }>)[0].agentId },
    { field: 'PUT /queues/:queue/agents agentName', send: (bad) => h.api('PUT', '/queues/q2/agents', headers, { agentId: 'ana', agentName: bad }), stored: async (a) => (a as Array<{ agentName: string }>)[0].agentName },
    { field: 'PUT /queues/:queue/agents :queue', url: true, send: () => h.api('PUT', '/queues/a%00b/agents', headers, { agentId: 'ana' }),
      stored: async () => (await h.ds.query(`SELECT queue FROM chat_ingress.queue_agents WHERE agent_id = 'ana' AND queue LIKE 'a%b'`))[0]?.queue },
    { field: 'GET /queues/:queue/agents :queue', url: true, send: () => h.api('GET', '/queues/a%00b/agents', headers) },
    { field: 'DELETE /queues/:queue/agents/:agentId', url: true, send: () => h.api('DELETE', '/queues/a%00b/agents/a%00b', headers) },
    { field: 'GET /conversations ?queue', url: true, send: () => h.api('GET', '/conversations?queue=a%00b', headers) },
    { field: 'POST /conversations/:id/transfer queue', send: async (bad) => h.api('POST', `/conversations/${(await open()).id}/transfer`, headers, { queue: bad }), stored: async (a) => (a as { queue: string }).queue },
    { field: 'POST /conversations/:id/transfer agentId, agentName', send: async (bad) => h.api('POST', `/conversations/${(await open()).id}/transfer`, headers, { queue: 'vendas', agentId: bad, agentName: bad }),
      stored: async (a) => { const c = await conversation((a as { id: string }).id); return c.agent_id === c.agent_name ? c.agent_id : [c.agent_id, c.agent_name]; } },
    { field: 'POST /conversations/:id/transfer reason', send: async (bad) => h.api('POST', `/conversations/${(await open()).id}/transfer`, headers, { reason: bad }),
      stored: async (a) => (await expectEventually(() => {
        const e = h.probe.ofType<{ conversationId: string; reason: string }>('chat.conversation.transferred').find((x) => x.data.conversationId === (a as { id: string }).id);
        expect(e).toBeDefined();
        return e!;
      })).data.reason },
    { field: 'POST /conversations/:id/assign agentId, agentName', send: async (bad) => h.api('POST', `/conversations/${(await open()).id}/assign`, headers, { agentId: bad, agentName: bad }),
      stored: async (a) => { const c = await conversation((a as { id: string }).id); return c.agent_id === c.agent_name ? c.agent_id : [c.agent_id, c.agent_name]; } },
    { field: 'POST /conversations/:id/close reason', send: async (bad) => h.api('POST', `/conversations/${(await open()).id}/close`, headers, { reason: bad }), stored: async (a) => (a as { closeReason: string }).closeReason },
    { field: 'PATCH /contacts/:id name and attribute key and value', send: async (bad) => h.api('PATCH', `/contacts/${(await open()).contact_id}`, headers, { name: bad, attributes: { [bad]: bad } }),
      stored: async (a) => { const c = a as { name: string; attributes: Record<string, string> }; return c.name === c.attributes[KEPT] ? c.name : c; } },
    { field: 'POST /messages text and origin', send: async (bad) => h.api('POST', '/messages', headers, { conversationId: (await open()).id, origin: bad, message: { kind: 'text', text: bad } }),
      stored: async (a) => { const m = (await h.ds.query(`SELECT body, origin FROM chat_ingress.messages WHERE id = $1`, [(a as { messageId: string }).messageId]))[0]; return [m.body.message.text, m.origin]; } },
  ];

  for (const [what, bad] of BAD) {
    it.each(CASES.filter((c) => !c.url || bad.includes('\u0000')))(`${what} in $field: not a 500, kept with U+FFFD`, async ({ send, stored }) => {
      const res = await send(bad);
      expect(res.status).toBeLessThan(300);
      if (stored) expect(new Set([await stored(res.body)].flat())).toEqual(new Set([KEPT]));
    });
  }

  it('a cursor edited to carry U+0000 in its queue filter is a 400 (not a cursor this API handed out), not a 500', async () => {
    const cursor = Buffer.from(JSON.stringify({ k: '1', id: '00000000-0000-4000-8000-000000000000', f: { queue: 'a\u0000b' } })).toString('base64url');
    expect(await h.api('GET', `/conversations?cursor=${cursor}`, headers)).toMatchObject({ status: 400, body: { detail: expect.stringContaining('cursor') } });
  });
});
