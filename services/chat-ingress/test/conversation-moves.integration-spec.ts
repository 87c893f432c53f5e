import { expectEventually } from '@elo/testing';
import { startHarness, type Harness } from './support/harness';

const SECRET = 'moves-app-secret';

describe('chat-ingress: conversation moves (notices, events, agents, a message racing a close)', () => {
  let h: Harness;
  let headers: Record<string, string>;
  let channel: { id: string };
  let seq = 0;

  beforeAll(async () => {
    h = await startHarness('chat_ingress_moves', { CHAT_WORKERS: 'on', FLOW_TICK_MS: '3600000' });
    ({ headers } = await h.tenantKey());
    channel = (await h.api<{ id: string }>('POST', '/channels', headers, {
      provider: 'whatsapp', name: 'Moves', phoneNumberId: 'PNMOVES',
      credentials: { accessToken: 'tok', appSecret: SECRET },
      settings: { botQueue: 'bot', humanQueue: 'atendimento', pickupNotice: 'with_agent_name', closingMessage: 'Atendimento encerrado.' },
    })).body;
  });

  afterAll(async () => {
    await h?.close();
  });

  const say = async (phone: string, text: string) => {
    const body = { object: 'whatsapp_business_account', entry: [{ id: 'W', changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp', metadata: { phone_number_id: 'PNMOVES' }, contacts: [{ wa_id: phone, profile: { name: 'Cliente' } }],
      messages: [{ from: phone, id: `wamid.MV.${phone}.${++seq}`, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: text } }] } }] }] };
    expect((await h.postMeta('whatsapp', channel.id, JSON.stringify(body), SECRET)).status).toBe(200);
  };
  /** The notices queued for a conversation (outbound texts), in order. */
  const notices = async (conversationId: string): Promise<string[]> => (await h.ds.query(
    `SELECT body->'message'->>'text' AS text FROM chat_ingress.messages WHERE conversation_id = $1 AND direction = 'out' ORDER BY created_at, id`, [conversationId])).map((r: { text: string }) => r.text);
  const open = async (phone: string) => {
    await say(phone, 'oi');
    return expectEventually(async () => {
      const c = (await h.ds.query(`SELECT c.* FROM chat_ingress.conversations c JOIN chat_ingress.contacts ct ON ct.id = c.contact_id WHERE ct.phone = $1 AND c.status = 'open'`, [`+${phone}`]))[0];
      expect(c).toBeDefined();
      return c as { id: string; contact_id: string; queue: string };
    });
  };
  const transferred = (conversationId: string) => h.probe.ofType<{ conversationId: string; toQueue: string; agentId?: string }>('chat.conversation.transferred').filter((e) => e.data.conversationId === conversationId);

  it('the pickup notice shows the agent\'s name as given, also one with $& or $\' (replacement patterns)', async () => {
    const conv = await open('5541988880001');
    const assigned = await h.api('POST', `/conversations/${conv.id}/assign`, headers, { agentId: 'rs', agentName: 'Ana $& Cia $\'' });
    expect(assigned.status).toBe(200);
    expect((await notices(conv.id)).at(-1)).toBe('Olá! Você está falando com Ana $& Cia $\'.');
  });

  it('each channel sends the notices its settings ask for: pickup none, simple (no name) or with the name in its own words; transfer and waiting notices off or in its own words', async () => {
    const t = await h.tenantKey();
    let n = 0;
    /** A conversation of a new customer on a new channel of `t` with `settings`, in the channel's bot queue. */
    const conversationOn = async (settings: Record<string, unknown>) => {
      const pn = `PNNOTICE${++n}`;
      const phone = `55419888810${String(n).padStart(2, '0')}`;
      const ch = await h.api<{ id: string }>('POST', '/channels', t.headers, {
        provider: 'whatsapp', name: pn, phoneNumberId: pn, credentials: { accessToken: 'tok', appSecret: SECRET }, settings: { botQueue: 'bot', humanQueue: 'atendimento', ...settings },
      });
      expect(ch.status).toBe(201);
      const body = { object: 'whatsapp_business_account', entry: [{ id: 'W', changes: [{ field: 'messages', value: {
        messaging_product: 'whatsapp', metadata: { phone_number_id: pn }, contacts: [{ wa_id: phone, profile: { name: 'Cliente' } }],
        messages: [{ from: phone, id: `wamid.NOTICE.${n}`, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: 'oi' } }] } }] }] };
      expect((await h.postMeta('whatsapp', ch.body.id, JSON.stringify(body), SECRET)).status).toBe(200);
      const [c] = await h.ds.query(`SELECT c.id, c.queue FROM chat_ingress.conversations c JOIN chat_ingress.messages m ON m.conversation_id = c.id WHERE m.provider_message_id = $1`, [`wamid.NOTICE.${n}`]);
      expect(c.queue).toBe('bot');
      return c.id as string;
    };
    // The notices are queued in the move's own transaction: what is queued when the API answers is all there is.
    const moveAndAssign = async (conversationId: string) => {
      expect((await h.api('POST', `/conversations/${conversationId}/transfer`, t.headers, {})).status).toBe(200);
      const afterTransfer = await notices(conversationId);
      expect((await h.api('POST', `/conversations/${conversationId}/assign`, t.headers, { agentId: 'carla', agentName: 'Carla' })).status).toBe(200);
      return { afterTransfer, afterAssign: (await notices(conversationId)).slice(afterTransfer.length) };
    };

    // Nothing said: no pickup notice, no transfer notice, no waiting notice.
    const quiet = await conversationOn({ pickupNotice: 'none', notifyOnTransfer: false, notifyOnWaiting: false });
    expect(await moveAndAssign(quiet)).toEqual({ afterTransfer: [], afterAssign: [] });
    // The moves themselves are still published.
    await expectEventually(() => expect(transferred(quiet).map((e) => `${e.data.toQueue}:${e.data.agentId ?? '-'}`).sort()).toEqual(['atendimento:-', 'atendimento:carla']));

    // Simple pickup (no name), the waiting notice alone, in the channel's words.
    const simple = await conversationOn({ pickupNotice: 'simple', notifyOnTransfer: false, waitingMessage: 'Já já te atendemos.' });
    expect(await moveAndAssign(simple)).toEqual({ afterTransfer: ['Já já te atendemos.'], afterAssign: ['Um atendente vai falar com você agora.'] });

    // The agent's name in the channel's own pickup text; the transfer notice alone, in its words.
    const named = await conversationOn({ pickupNotice: 'with_agent_name', pickupMessage: 'Oi! Aqui é {agent}, do suporte.', transferMessage: 'Passando você para o time.', notifyOnWaiting: false });
    expect(await moveAndAssign(named)).toEqual({ afterTransfer: ['Passando você para o time.'], afterAssign: ['Oi! Aqui é Carla, do suporte.'] });

    // A channel with no closing message closes without a word; one with it says it.
    expect((await h.api('POST', `/conversations/${quiet}/close`, t.headers, { reason: 'resolved' })).status).toBe(200);
    expect(await notices(quiet)).toEqual([]);
    expect((await h.api('PATCH', `/channels/${(await h.ds.query('SELECT channel_id FROM chat_ingress.conversations WHERE id = $1', [named]))[0].channel_id}`, t.headers, { settings: { closingMessage: 'Até a próxima!' } })).status).toBe(200);
    expect((await h.api('POST', `/conversations/${named}/close`, t.headers, { reason: 'resolved' })).status).toBe(200);
    expect((await notices(named)).at(-1)).toBe('Até a próxima!');
  });

  it('a transfer naming an agent who is not in the target queue\'s list is a 422 (as assign is), and nothing moves', async () => {
    expect((await h.api('PUT', '/queues/financeiro/agents', headers, { agentId: 'carla', agentName: 'Carla' })).status).toBe(200);
    const conv = await open('5541988880002');
    const refused = await h.api('POST', `/conversations/${conv.id}/transfer`, headers, { queue: 'financeiro', agentId: 'zeca', agentName: 'Zeca' });
    expect(refused).toMatchObject({ status: 422, body: { detail: expect.stringContaining('not an agent of queue financeiro') } });
    expect((await h.api<{ queue: string }>('GET', `/conversations/${conv.id}`, headers)).body.queue).toBe('bot');
    await h.settled();
    expect(transferred(conv.id)).toEqual([]);
  });

  it('a transfer to the queue the conversation is already in (no agent change) sends no notice and publishes no event', async () => {
    const conv = await open('5541988880003');
    expect((await h.api('POST', `/conversations/${conv.id}/transfer`, headers, {})).status).toBe(200);
    await expectEventually(() => expect(transferred(conv.id)).toHaveLength(1));
    const before = await notices(conv.id);
    const again = await h.api<{ queue: string }>('POST', `/conversations/${conv.id}/transfer`, headers, { queue: 'atendimento' });
    expect(again).toMatchObject({ status: 200, body: { queue: 'atendimento' } });
    await h.settled();
    expect(await notices(conv.id)).toEqual(before);
    expect(transferred(conv.id)).toHaveLength(1);
  });

  it('assigning the agent who already has the conversation again (a double click) sends one pickup notice and one event', async () => {
    const conv = await open('5541988880004');
    expect((await h.api('POST', `/conversations/${conv.id}/assign`, headers, { agentId: 'dani', agentName: 'Dani' })).status).toBe(200);
    expect((await h.api('POST', `/conversations/${conv.id}/assign`, headers, { agentId: 'dani', agentName: 'Dani' })).status).toBe(200);
    await h.settled();
    expect((await notices(conv.id)).filter((t) => t.includes('Dani'))).toHaveLength(1);
    expect(transferred(conv.id)).toHaveLength(1);
  });

  it('GET /conversations pages newest first with a cursor that keeps its filters; conversations opened by one webhook (one instant) are neither skipped nor repeated', async () => {
    const t = await h.tenantKey();
    const ch = (await h.api<{ id: string }>('POST', '/channels', t.headers, { provider: 'whatsapp', name: 'Paging', phoneNumberId: 'PNPAGE', credentials: { accessToken: 'tok', appSecret: 'page-secret' } })).body;
    const phones = ['5541977770001', '5541977770002', '5541977770003', '5541977770004', '5541977770005'];
    const at = String(Math.floor(Date.now() / 1000));
    const body = { object: 'whatsapp_business_account', entry: [{ id: 'W', changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp', metadata: { phone_number_id: 'PNPAGE' }, contacts: phones.map((p) => ({ wa_id: p, profile: { name: p } })),
      messages: phones.map((p) => ({ from: p, id: `wamid.PG.${p}`, timestamp: at, type: 'text', text: { body: 'oi' } })) } }] }] };
    expect((await h.postMeta('whatsapp', ch.id, JSON.stringify(body), 'page-secret')).body).toMatchObject({ stored: 5 });
    type Page = { items: Array<{ id: string; status: string; contact: { phone: string } }>; nextCursor: string | null };
    const pages: Page[] = [];
    for (let cursor: string | null = ''; cursor !== null && pages.length < 10; ) {
      const res: { status: number; body: Page } = await h.api<Page>('GET', `/conversations?status=open&limit=2${cursor ? `&cursor=${cursor}` : ''}`, t.headers);
      expect(res.status).toBe(200);
      pages.push(res.body);
      cursor = res.body.nextCursor;
    }
    expect(pages.map((p) => p.items.length)).toEqual([2, 2, 1]);
    const listed = pages.flatMap((p) => p.items);
    expect(listed.map((c) => c.contact.phone).sort()).toEqual(phones.map((p) => `+${p}`));
    expect(new Set(listed.map((c) => c.id)).size).toBe(5);
    // The cursor keeps status=open: a different filter with it is a 400, as is a cursor not of this API, and nothing else is listed.
    const cursor = pages[0].nextCursor!;
    expect((await h.api('GET', `/conversations?status=closed&cursor=${cursor}`, t.headers)).body).toMatchObject({ status: 400, detail: expect.stringContaining('status: differs from the filter') });
    expect((await h.api('GET', '/conversations?cursor=bm9wZQ', t.headers)).status).toBe(400);
    expect((await h.api('GET', '/conversations?limit=0', t.headers)).status).toBe(400);
    expect((await h.api<Page>('GET', '/conversations?status=closed', t.headers)).body).toEqual({ items: [], nextCursor: null });
    // Another tenant's conversations are not listed.
    expect((await h.api<Page>('GET', '/conversations', headers)).body.items.map((c) => c.id)).not.toEqual(expect.arrayContaining([listed[0].id]));
  });

  it('transferred and closed events carry the contact with its attributes, so an integration they trigger can use them as template values', async () => {
    const conv = await open('5541988880091');
    expect((await h.api('PATCH', `/contacts/${conv.contact_id}`, headers, { attributes: { cpf: '52998224725' } })).status).toBe(200);
    expect((await h.api('POST', `/conversations/${conv.id}/transfer`, headers, {})).status).toBe(200);
    expect((await h.api('POST', `/conversations/${conv.id}/assign`, headers, { agentId: 'ana', agentName: 'Ana' })).status).toBe(200);
    expect((await h.api('POST', `/conversations/${conv.id}/close`, headers, {})).status).toBe(200);
    const contact = { phone: '+5541988880091', name: 'Cliente', attributes: { cpf: '52998224725' } };
    await expectEventually(() => {
      const moves = transferred(conv.id);
      expect(moves.map((e) => e.data)).toEqual([
        expect.objectContaining({ toQueue: 'atendimento', contact: expect.objectContaining(contact) }),
        expect.objectContaining({ agentId: 'ana', contact: expect.objectContaining(contact) }),
      ]);
      const closed = h.probe.ofType<{ conversationId: string }>('chat.conversation.closed').filter((e) => e.data.conversationId === conv.id);
      expect(closed.map((e) => e.data)).toEqual([expect.objectContaining({ contact: expect.objectContaining(contact) })]);
    });
  });

  it('a customer message stored while the conversation is being closed opens a new conversation in the bot queue (not lost in the closed one)', async () => {
    const conv = await open('5541988880006');
    const closer = h.ds.createQueryRunner();
    await closer.connect();
    await closer.startTransaction();
    try {
      await closer.query(`SELECT 1 FROM chat_ingress.conversations WHERE id = $1 FOR UPDATE`, [conv.id]);
      await closer.query(`UPDATE chat_ingress.conversations SET status = 'closed', closed_at = now(), close_reason = 'agent' WHERE id = $1`, [conv.id]);
      const posted = say('5541988880006', 'mais uma coisa');
      // Commit the close once the webhook's write waits for it (its FOR SHARE on the conversation blocks on the close's lock).
      await expectEventually(async () => expect(await h.ds.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).not.toHaveLength(0));
      await closer.commitTransaction();
      await posted;
    } finally {
      await closer.release();
    }
    const row = (await h.ds.query(`SELECT m.conversation_id, c.status, c.queue FROM chat_ingress.messages m JOIN chat_ingress.conversations c ON c.id = m.conversation_id WHERE m.direction = 'in' AND m.body->>'text' = 'mais uma coisa'`))[0];
    expect(row).toMatchObject({ status: 'open', queue: 'bot' });
    expect(row.conversation_id).not.toBe(conv.id);
  });
});
