import { RetentionSweeper } from '@elo/platform';
import { expectEventually, expectRetained, outboxEmpty } from '@elo/testing';
import { metaSignature } from '../src/webhooks/signatures';
import { fixture, startHarness, type Harness } from './support/harness';


const APP_SECRET = 'wa-app-secret-123';

describe('chat-ingress: channels API and WhatsApp inbound (real PostgreSQL and RabbitMQ)', () => {
  let h: Harness;
  let headers: Record<string, string>;
  let tenantId: string;
  let channel: { id: string; webhookUrl: string; secrets: { verifyToken: string }; credentials: Record<string, string> };

  beforeAll(async () => {
    h = await startHarness('chat_ingress_whatsapp');
    ({ tenantId, headers } = await h.tenantKey());
    const res = await h.api<typeof channel>('POST', '/channels', headers, {
      provider: 'whatsapp', name: 'Suporte', phoneNumberId: '109876543210987', displayPhone: '+55 41 3000-1000', accountId: '210987654321098',
      credentials: { accessToken: 'EAAG-very-secret-access-token', appSecret: APP_SECRET },
      settings: { botQueue: 'triagem', humanQueue: 'atendimento', maxAttachmentMb: 5 },
    });
    expect(res.status).toBe(201);
    channel = res.body;
  });

  afterAll(async () => {
    await h?.close();
  });

  const count = async (table: string) => Number((await h.ds.query(`SELECT count(*)::int AS n FROM chat_ingress.${table}`))[0].n);
  const received = () => h.probe.ofType<{ providerMessageId: string; contact: { phone?: string; name?: string }; message: { kind: string } }>('chat.message.received');
  /**
   * A signed text of a customer with a business-scoped user id, with their phone or without it (a username, the phone withheld);
   * without a user id (`undefined`), one with the phone alone (as webhooks came before user ids).
   */
  const userText = (userId: string | undefined, name: string, id: string, text: string, phone?: string) => JSON.stringify({
    object: 'whatsapp_business_account', entry: [{ id: '210987654321098', changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp', metadata: { phone_number_id: '109876543210987' },
      contacts: [{ profile: { name, ...(phone ? {} : { username: `@${name.toLowerCase()}` }) }, ...(userId ? { user_id: userId } : {}), ...(phone ? { wa_id: phone } : {}) }],
      messages: [{ ...(phone ? { from: phone } : {}), ...(userId ? { from_user_id: userId } : {}), id, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: text } }] } }] }],
  });
  const sayAsUser = async (userId: string | undefined, name: string, id: string, text: string, phone?: string) =>
    expect(await h.postMeta('whatsapp', channel.id, userText(userId, name, id, text, phone), APP_SECRET)).toEqual({ status: 200, body: { stored: 1, duplicates: 0, statuses: 0 } });
  /** Runs `during` while the outbox is locked, so every write (a webhook's, a send's) waits before its commit; then lets them go. */
  const whileOutboxHeld = async <T>(during: () => Promise<T>): Promise<T> => {
    // Earlier sends are out (their outcomes recorded): the only writes waiting are the caller's.
    await expectEventually(async () => expect(await h.ds.query(`SELECT 1 FROM chat_ingress.messages WHERE direction = 'out' AND status IN ('queued', 'sending')`)).toHaveLength(0));
    const blocker = h.ds.createQueryRunner();
    await blocker.connect();
    await blocker.startTransaction();
    try {
      await blocker.query('LOCK TABLE chat_ingress.outbox IN SHARE MODE');
      const result = await during();
      await blocker.commitTransaction();
      return result;
    } finally {
      if (blocker.isTransactionActive) await blocker.rollbackTransaction();
      await blocker.release();
    }
  };
  /** Waits until `n` writes wait on a lock: at their outbox rows (a webhook's, a send's), or on a customer's user-id lock. */
  const waitingOnLocks = (n: number) => expectEventually(async () => {
    const [w] = await h.ds.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
      AND (query LIKE 'WITH change AS%' OR query LIKE 'INSERT INTO "chat_ingress".outbox (event_id%' OR wait_event = 'advisory') AND pid <> pg_backend_pid()`);
    expect(w.n).toBe(n);
  });
  /** Each message's contact and conversation, with the contact's phone and user id, in the order of `ids`. */
  const stored = (ids: string[]): Promise<Array<{ provider_message_id: string; conversation_id: string; contact_id: string; phone: string | null; phone_alt: string | null; provider_user_id: string | null }>> =>
    h.ds.query(`SELECT m.provider_message_id, m.conversation_id, m.contact_id, ct.phone, ct.phone_alt, ct.provider_user_id FROM chat_ingress.messages m
      JOIN chat_ingress.contacts ct ON ct.id = m.contact_id WHERE m.provider_message_id = ANY($1) ORDER BY array_position($1, m.provider_message_id)`, [ids]);

  it('creates a channel with masked credentials, a generated verify token and the webhook URL to paste', async () => {
    expect(channel.webhookUrl).toBe(`https://elo.example.com/webhooks/whatsapp/${channel.id}`);
    expect(channel.secrets.verifyToken).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(JSON.stringify(channel.credentials)).not.toContain('very-secret');
    expect(JSON.stringify(channel.credentials)).not.toContain(APP_SECRET);
    const list = await h.api<Array<{ id: string; verifyToken: string; settings: { botQueue: string; pickupNotice: string } }>>('GET', '/channels', headers);
    expect(list.body.map((c) => c.id)).toEqual([channel.id]);
    expect(list.body[0].verifyToken).not.toBe(channel.secrets.verifyToken);
    expect(list.body[0].settings).toMatchObject({ botQueue: 'triagem', humanQueue: 'atendimento', pickupNotice: 'simple' });
    const stored = await h.ds.query('SELECT credentials, verify_token FROM chat_ingress.channels WHERE id = $1', [channel.id]);
    expect(stored[0].credentials).not.toContain('very-secret');
    expect(stored[0].verify_token).not.toContain(channel.secrets.verifyToken);
  });

  it('updates settings and credentials, scopes channels to their tenant, and needs channels:manage', async () => {
    const upd = await h.api<{ settings: { closingMessage: string; botQueue: string } }>('PATCH', `/channels/${channel.id}`, headers, { settings: { closingMessage: 'Até logo!' } });
    expect(upd.status).toBe(200);
    expect(upd.body.settings).toMatchObject({ closingMessage: 'Até logo!', botQueue: 'triagem' });
    const other = await h.tenantKey();
    expect((await h.api('GET', `/channels/${channel.id}`, other.headers)).status).toBe(404);
    expect((await h.api('GET', '/channels', other.headers)).body).toEqual([]);
    const weak = await h.tenantKey(['messages:send']);
    expect((await h.api('GET', '/channels', weak.headers)).status).toBe(403);
    expect((await h.api('POST', '/channels', headers, { provider: 'sms', name: 'x' })).status).toBe(400);
  });

  it('a channel name or setting text with U+0000 or a lone surrogate is kept with U+FFFD in its place (PostgreSQL refuses them), not a 500', async () => {
    const created = await h.api<{ id: string; name: string; settings: { closingMessage: string } }>('POST', '/channels', headers, {
      provider: 'generic', name: 'Bot\u0000 \ud800', callbackUrl: 'https://platform.example.com/inbox', settings: { closingMessage: 'Tchau\u0000' },
    });
    expect(created).toMatchObject({ status: 201, body: { name: 'Bot\uFFFD \uFFFD', settings: { closingMessage: 'Tchau\uFFFD' } } });
    const patched = await h.api<{ name: string; settings: { reminderMessage: string } }>('PATCH', `/channels/${created.body.id}`, headers, {
      name: 'B\u0000', settings: { reminderMessage: '\udfffoi' },
    });
    expect(patched).toMatchObject({ status: 200, body: { name: 'B\uFFFD', settings: { reminderMessage: '\uFFFDoi' } } });
  });

  it('answers the Meta verification handshake only with the right verify token', async () => {
    const ok = await h.api('GET', `/webhooks/whatsapp/${channel.id}?hub.mode=subscribe&hub.verify_token=${channel.secrets.verifyToken}&hub.challenge=1158201444`, {});
    expect(ok).toEqual({ status: 200, body: 1158201444 });
    const bad = await h.api('GET', `/webhooks/whatsapp/${channel.id}?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1`, {});
    expect(bad.status).toBe(403);
    // The right token is not enough without hub.mode=subscribe, nor without a token at all.
    expect((await h.api('GET', `/webhooks/whatsapp/${channel.id}?hub.mode=unsubscribe&hub.verify_token=${channel.secrets.verifyToken}&hub.challenge=1`, {})).status).toBe(403);
    expect((await h.api('GET', `/webhooks/whatsapp/${channel.id}?hub.mode=subscribe&hub.challenge=1`, {})).status).toBe(403);
  });

  it('a disabled channel takes no webhook (404: nothing stored or published) and fails the handshake; enabled again, it takes them', async () => {
    const created = await h.api<typeof channel>('POST', '/channels', headers, {
      provider: 'whatsapp', name: 'Desligado', phoneNumberId: '109876543210555', credentials: { accessToken: 'EAAG-off', appSecret: 'off-app-secret' },
    });
    expect(created.status).toBe(201);
    const off = created.body;
    const text = (id: string) => JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp', metadata: { phone_number_id: '109876543210555' }, contacts: [{ wa_id: '5541977550001', profile: { name: 'Off' } }],
      messages: [{ from: '5541977550001', id, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: 'oi' } }] } }] }] });
    const handshake = () => h.api('GET', `/webhooks/whatsapp/${off.id}?hub.mode=subscribe&hub.verify_token=${off.secrets.verifyToken}&hub.challenge=42`, {});
    const stored = async () => Number((await h.ds.query(`SELECT (SELECT count(*) FROM chat_ingress.webhook_receipts WHERE channel_id = $1) + (SELECT count(*) FROM chat_ingress.messages WHERE channel_id = $1) AS n`, [off.id]))[0].n);

    expect((await h.api('POST', `/channels/${off.id}/disable`, headers)).status).toBe(200);
    expect((await h.postMeta('whatsapp', off.id, text('wamid.OFFCH.1'), 'off-app-secret')).status).toBe(404);
    expect((await handshake()).status).toBe(404);
    expect(await stored()).toBe(0);

    expect((await h.api('POST', `/channels/${off.id}/enable`, headers)).status).toBe(200);
    expect(await handshake()).toEqual({ status: 200, body: 42 });
    expect(await h.postMeta('whatsapp', off.id, text('wamid.OFFCH.2'), 'off-app-secret')).toEqual({ status: 200, body: { stored: 1, duplicates: 0, statuses: 0 } });
    await h.settled();
    expect(received().filter((e) => e.data.providerMessageId.startsWith('wamid.OFFCH.')).map((e) => e.data.providerMessageId)).toEqual(['wamid.OFFCH.2']);
  });

  it('stores a signed text message and publishes chat.message.received and chat.conversation.opened', async () => {
    const raw = fixture('whatsapp-text-message.json');
    const res = await h.postMeta('whatsapp', channel.id, raw, APP_SECRET);
    expect(res).toEqual({ status: 200, body: { stored: 1, duplicates: 0, statuses: 0 } });
    const receipts = await h.ds.query('SELECT body FROM chat_ingress.webhook_receipts WHERE channel_id = $1', [channel.id]);
    expect(receipts.map((r: { body: string }) => r.body)).toContain(raw);
    const e = await expectEventually(() => {
      const found = received().find((x) => x.data.providerMessageId.startsWith('wamid.HBgMNTU0MTk4'));
      expect(found).toBeDefined();
      return found!;
    });
    expect(e.tenantid).toBe(tenantId);
    expect(e.data).toMatchObject({ channelId: channel.id, provider: 'whatsapp', contact: { phone: '+5541988445566', name: 'Joana Prado' }, message: { kind: 'text', text: 'Olá, quero a segunda via do boleto' } });
    await expectEventually(() => expect(h.probe.ofType<{ queue: string; conversationId: string }>('chat.conversation.opened').find((o) => o.data.conversationId === (e.data as { conversationId?: string }).conversationId)?.data.queue).toBe('triagem'));
  });

  it('answers a webhook only once what it carries is committed: while its write waits, the provider has no answer', async () => {
    let answered = false;
    const { post } = await whileOutboxHeld(async () => {
      const post = h.postMeta('whatsapp', channel.id, userText(undefined, 'Lia', 'wamid.DURABLE1', 'oi', '5541977330001'), APP_SECRET).then((r) => {
        answered = true;
        return r;
      });
      // Its write has begun and waits at the outbox, before its commit: nothing is stored yet, so nothing may be answered.
      await waitingOnLocks(1);
      expect(await stored(['wamid.DURABLE1'])).toEqual([]);
      expect(answered).toBe(false);
      return { post };
    });
    expect(await post).toEqual({ status: 200, body: { stored: 1, duplicates: 0, statuses: 0 } });
    expect(await stored(['wamid.DURABLE1'])).toHaveLength(1);
  });

  it('acknowledges a repeated message without storing or publishing anything again', async () => {
    const before = await count('messages');
    const res = await h.postMeta('whatsapp', channel.id, fixture('whatsapp-text-message.json'), APP_SECRET);
    expect(res).toEqual({ status: 200, body: { stored: 0, duplicates: 1, statuses: 0 } });
    expect(await count('messages')).toBe(before);
    await h.probe.settled(outboxEmpty(h.ds, 'chat_ingress')); // a wrongly published duplicate would have arrived by now
    expect(received().filter((x) => x.data.providerMessageId.startsWith('wamid.HBgMNTU0MTk4'))).toHaveLength(1);
  });

  it('matches the old eight-digit Brazilian form to the same contact and conversation', async () => {
    const body = JSON.parse(fixture('whatsapp-text-message.json'));
    const v = body.entry[0].changes[0].value;
    v.contacts[0].wa_id = '554188445566';
    v.messages[0] = { ...v.messages[0], from: '554188445566', id: 'wamid.OLDFORM1', text: { body: 'de novo' } };
    expect((await h.postMeta('whatsapp', channel.id, JSON.stringify(body), APP_SECRET)).status).toBe(200);
    // This message and the fixture's first one (the same customer in the nine-digit form): one contact, one conversation.
    const rows = await h.ds.query(`SELECT count(*)::int AS n, count(DISTINCT conversation_id)::int AS c, count(DISTINCT ct.id)::int AS k FROM chat_ingress.messages m
      JOIN chat_ingress.conversations cv ON cv.id = m.conversation_id JOIN chat_ingress.contacts ct ON ct.id = cv.contact_id
      WHERE m.channel_id = $1 AND (m.provider_message_id = 'wamid.OLDFORM1' OR m.provider_message_id LIKE 'wamid.HBgMNTU0MTk4%')`, [channel.id]);
    expect(rows[0]).toEqual({ n: 2, c: 1, k: 1 });
  });

  it('a customer known by phone and business-scoped user id who later writes with the user id alone (a username, the phone withheld) stays one contact and conversation', async () => {
    const say = (id: string, text: string, phone?: string) => sayAsUser('BR.7700112233', 'Lia', id, text, phone);
    await say('wamid.USERID1', 'oi', '5541977001122');
    await say('wamid.USERID2', 'sou eu de novo');
    const rows = await h.ds.query(`SELECT m.provider_message_id, m.conversation_id, m.contact_id, ct.phone, ct.provider_user_id FROM chat_ingress.messages m
      JOIN chat_ingress.contacts ct ON ct.id = m.contact_id WHERE m.provider_message_id IN ('wamid.USERID1', 'wamid.USERID2') ORDER BY 1`);
    expect(rows).toHaveLength(2);
    expect(rows[1]).toMatchObject({ contact_id: rows[0].contact_id, conversation_id: rows[0].conversation_id, phone: '+5541977001122', provider_user_id: 'BR.7700112233' });
    const e = await expectEventually(() => {
      const found = received().find((x) => x.data.providerMessageId === 'wamid.USERID2');
      expect(found).toBeDefined();
      return found!;
    });
    expect(e.data.contact).toMatchObject({ phone: '+5541977001122', name: 'Lia' });
  });

  it('a customer first known by the business-scoped user id alone who later writes with phone and user id stays one contact and conversation, which records the phone', async () => {
    await sayAsUser('BR.7700445566', 'Rui', 'wamid.UIDFIRST1', 'oi');
    const [first] = await stored(['wamid.UIDFIRST1']);
    expect((await h.api('PATCH', `/contacts/${first.contact_id}`, headers, { attributes: { cpf: '52998224725' } })).status).toBe(200);
    await sayAsUser('BR.7700445566', 'Rui', 'wamid.UIDFIRST2', 'meu número', '5541977004455');
    const rows = await stored(['wamid.UIDFIRST1', 'wamid.UIDFIRST2']);
    expect(rows[1]).toMatchObject({ contact_id: first.contact_id, conversation_id: first.conversation_id, phone: '+5541977004455', phone_alt: '+554177004455', provider_user_id: 'BR.7700445566' });
    const [contacts] = await h.ds.query(`SELECT count(*)::int AS n FROM chat_ingress.contacts WHERE channel_id = $1 AND (provider_user_id = 'BR.7700445566' OR phone = '+5541977004455')`, [channel.id]);
    expect(contacts.n).toBe(1);
    const identity = { phone: '+5541977004455', providerUserId: 'BR.7700445566', name: 'Rui', attributes: { cpf: '52998224725' } };
    const e = await expectEventually(() => {
      const found = received().find((x) => x.data.providerMessageId === 'wamid.UIDFIRST2');
      expect(found).toBeDefined();
      return found!;
    });
    expect(e.data).toMatchObject({ conversationId: first.conversation_id, contact: identity });
    const list = await h.api<{ items: Array<{ id: string; contact: Record<string, unknown> }> }>('GET', '/conversations', headers);
    expect(list.body.items.find((c) => c.id === first.conversation_id)?.contact).toEqual({ id: first.contact_id, ...identity });
  });

  it('a send to the phone of a customer first known by the user id alone goes to that contact and its open conversation', async () => {
    const [known] = await stored(['wamid.UIDFIRST1']);
    for (const phone of ['+55 41 97700-4455', '5541977004455', '554177004455']) {
      const send = await h.api<{ messageId: string }>('POST', '/messages', headers, { channelId: channel.id, contact: { phone }, message: { kind: 'text', text: 'Anotamos seu número' } });
      expect(send.status).toBe(202);
      const [out] = await h.ds.query(`SELECT contact_id, conversation_id, body->>'to' AS to FROM chat_ingress.messages WHERE id = $1`, [send.body.messageId]);
      expect(out).toEqual({ contact_id: known.contact_id, conversation_id: known.conversation_id, to: '+5541977004455' });
    }
  });

  it('a customer first known by the user id alone, who then wrote with phone and user id, is that contact when writing with the phone alone', async () => {
    await sayAsUser('BR.7700778899', 'Gil', 'wamid.UIDPHONE1', 'oi');
    await sayAsUser('BR.7700778899', 'Gil', 'wamid.UIDPHONE2', 'meu número', '5541977007788');
    await sayAsUser(undefined, 'Gil', 'wamid.UIDPHONE3', 'sem user id', '5541977007788');
    await sayAsUser('BR.7700778899', 'Gil', 'wamid.UIDPHONE4', 'só o user id de novo');
    const rows = await stored(['wamid.UIDPHONE1', 'wamid.UIDPHONE2', 'wamid.UIDPHONE3', 'wamid.UIDPHONE4']);
    expect(rows.map((r) => [r.contact_id, r.conversation_id, r.phone, r.provider_user_id])).toEqual(rows.map(() => [rows[0].contact_id, rows[0].conversation_id, '+5541977007788', 'BR.7700778899']));
    const [contacts] = await h.ds.query(`SELECT count(*)::int AS n FROM chat_ingress.contacts WHERE channel_id = $1 AND (provider_user_id = 'BR.7700778899' OR phone = '+5541977007788')`, [channel.id]);
    expect(contacts.n).toBe(1);
  });

  it('a phone-and-user-id message whose contact would move to the phone while another write creates a contact under that phone is redone (joins that one), not failed', async () => {
    await sayAsUser('BR.7701112233', 'Edu', 'wamid.KEYRACE1', 'oi');
    // The phone-alone message's write creates its contact, then waits on an uncommitted row with its message id; the other
    // write, which read before that contact existed, moves the user-id contact to the same phone key and waits on it.
    const blocker = h.ds.createQueryRunner();
    await blocker.connect();
    await blocker.startTransaction();
    try {
      await blocker.query(`INSERT INTO chat_ingress.messages (id, tenant_id, channel_id, direction, provider_message_id, kind, status, body)
        VALUES (gen_random_uuid(), $1, $2, 'in', 'wamid.KEYRACE2', 'text', 'received', '{}')`, [tenantId, channel.id]);
      const waiting = (n: number) => expectEventually(async () => {
        const [w] = await h.ds.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'transactionid'`);
        expect(w.n).toBe(n);
      });
      const phoneAlone = sayAsUser(undefined, 'Edu', 'wamid.KEYRACE2', 'sem user id', '5541977011122');
      await waiting(1);
      const both = sayAsUser('BR.7701112233', 'Edu', 'wamid.KEYRACE3', 'com user id', '5541977011122');
      await waiting(2);
      await blocker.rollbackTransaction();
      await Promise.all([phoneAlone, both]);
    } finally {
      if (blocker.isTransactionActive) await blocker.rollbackTransaction();
      await blocker.release();
    }
    const rows = await stored(['wamid.KEYRACE2', 'wamid.KEYRACE3']);
    expect(rows[1]).toMatchObject({ contact_id: rows[0].contact_id, conversation_id: rows[0].conversation_id, phone: '+5541977011122', provider_user_id: 'BR.7701112233' });
  });

  it('a customer first known by phone alone who later writes with phone and user id records the user id: their user-id-only message is that contact', async () => {
    await sayAsUser(undefined, 'Ivo', 'wamid.PHONEUID1', 'oi', '5541977009900');
    await sayAsUser('BR.7700990011', 'Ivo', 'wamid.PHONEUID2', 'agora com user id', '5541977009900');
    await sayAsUser('BR.7700990011', 'Ivo', 'wamid.PHONEUID3', 'só o user id');
    const rows = await stored(['wamid.PHONEUID1', 'wamid.PHONEUID2', 'wamid.PHONEUID3']);
    expect(rows.map((r) => [r.contact_id, r.conversation_id, r.phone, r.provider_user_id])).toEqual(rows.map(() => [rows[0].contact_id, rows[0].conversation_id, '+5541977009900', 'BR.7700990011']));
    const e = await expectEventually(() => {
      const found = received().find((x) => x.data.providerMessageId === 'wamid.PHONEUID3');
      expect(found).toBeDefined();
      return found!;
    });
    expect(e.data).toMatchObject({ conversationId: rows[0].conversation_id, contact: { phone: '+5541977009900', providerUserId: 'BR.7700990011', name: 'Ivo' } });
  });

  it('a customer first sent to by phone (POST /messages) who then writes with phone and user id records the user id: their user-id-only message is that contact', async () => {
    const send = await h.api<{ messageId: string }>('POST', '/messages', headers, { channelId: channel.id, contact: { phone: '+55 41 97701-0011' }, message: { kind: 'text', text: 'Olá!' } });
    expect(send.status).toBe(202);
    const [out] = await h.ds.query(`SELECT contact_id FROM chat_ingress.messages WHERE id = $1`, [send.body.messageId]);
    await sayAsUser('BR.7701001122', 'Ana', 'wamid.SENDUID1', 'oi', '5541977010011');
    await sayAsUser('BR.7701001122', 'Ana', 'wamid.SENDUID2', 'só o user id');
    const rows = await stored(['wamid.SENDUID1', 'wamid.SENDUID2']);
    expect(rows.map((r) => [r.contact_id, r.conversation_id, r.phone, r.provider_user_id])).toEqual(rows.map(() => [out.contact_id, rows[0].conversation_id, '+5541977010011', 'BR.7701001122']));
  });

  it('a send naming phone and user id to a contact known by the phone alone records the user id on it: the customer\'s user-id-only message is that contact and conversation', async () => {
    // Known from a message with the phone alone (its wa_id stands as the contact's user id).
    await sayAsUser(undefined, 'Rui', 'wamid.SENDBOTH1', 'oi', '5541977012233');
    const [first] = await stored(['wamid.SENDBOTH1']);
    const send = await h.api<{ messageId: string; conversationId?: string }>('POST', '/messages', headers, { channelId: channel.id, contact: { phone: '+55 41 97701-2233', providerUserId: 'BR.7701223344' }, message: { kind: 'text', text: 'Olá, Rui' } });
    expect(send.status).toBe(202);
    const [out] = await h.ds.query(`SELECT contact_id, conversation_id, body->>'to' AS to FROM chat_ingress.messages WHERE id = $1`, [send.body.messageId]);
    expect(out).toEqual({ contact_id: first.contact_id, conversation_id: first.conversation_id, to: '+5541977012233' });
    await sayAsUser('BR.7701223344', 'Rui', 'wamid.SENDBOTH2', 'só o user id');
    const [later] = await stored(['wamid.SENDBOTH2']);
    expect(later).toMatchObject({ contact_id: first.contact_id, conversation_id: first.conversation_id, phone: '+5541977012233', provider_user_id: 'BR.7701223344' });

    // Known from a send to the phone alone (no user id at all): the first message with the user id alone is that contact.
    const byPhone = await h.api<{ messageId: string }>('POST', '/messages', headers, { channelId: channel.id, contact: { phone: '+55 41 97701-3344' }, message: { kind: 'text', text: 'Olá, Teo' } });
    const both = await h.api<{ messageId: string }>('POST', '/messages', headers, { channelId: channel.id, contact: { phone: '5541977013344', providerUserId: 'BR.7701334455' }, message: { kind: 'text', text: 'Seu boleto' } });
    expect([byPhone.status, both.status]).toEqual([202, 202]);
    const outs: Array<{ contact_id: string }> = await h.ds.query(`SELECT contact_id FROM chat_ingress.messages WHERE id = ANY($1::uuid[])`, [[byPhone.body.messageId, both.body.messageId]]);
    expect(outs.map((o) => o.contact_id)).toEqual([outs[0].contact_id, outs[0].contact_id]);
    await sayAsUser('BR.7701334455', 'Teo', 'wamid.SENDBOTH3', 'só o user id');
    const [teo] = await stored(['wamid.SENDBOTH3']);
    expect(teo).toMatchObject({ contact_id: outs[0].contact_id, phone: '+5541977013344', provider_user_id: 'BR.7701334455' });
    const [contacts] = await h.ds.query(`SELECT count(*)::int AS n FROM chat_ingress.contacts WHERE channel_id = $1 AND (provider_user_id IN ('BR.7701223344', 'BR.7701334455') OR phone IN ('+5541977012233', '+5541977013344'))`, [channel.id]);
    expect(contacts.n).toBe(2);
  });

  it('a customer\'s user-id-only message and their phone-and-user-id message written at the same moment in two lanes make one contact and conversation', async () => {
    // The first webhook's write stops before its commit, so the second, in the other lane, is written while the first one's
    // contact is not committed yet.
    const [first, second] = await whileOutboxHeld(async () => {
      const first = sayAsUser('BR.7700556677', 'Teo', 'wamid.LANES1', 'oi');
      await waitingOnLocks(1);
      const second = sayAsUser('BR.7700556677', 'Teo', 'wamid.LANES2', 'meu número', '5541977005566');
      await waitingOnLocks(2);
      return [first, second];
    });
    await Promise.all([first, second]);
    const rows = await stored(['wamid.LANES1', 'wamid.LANES2']);
    expect(rows[1]).toMatchObject({ contact_id: rows[0].contact_id, conversation_id: rows[0].conversation_id, phone: '+5541977005566', provider_user_id: 'BR.7700556677' });
    const [contacts] = await h.ds.query(`SELECT count(*)::int AS n FROM chat_ingress.contacts WHERE channel_id = $1 AND (provider_user_id = 'BR.7700556677' OR phone = '+5541977005566')`, [channel.id]);
    expect(contacts.n).toBe(1);
  });

  it('a send to a user id while the customer\'s first message (phone and that user id) is being written goes to the contact that message creates', async () => {
    const [inbound, send] = await whileOutboxHeld(async () => {
      const inbound = sayAsUser('BR.7700667788', 'Bia', 'wamid.SENDRACE1', 'oi', '5541977006677');
      await waitingOnLocks(1);
      const send = h.api<{ messageId: string }>('POST', '/messages', headers, { channelId: channel.id, contact: { providerUserId: 'BR.7700667788' }, message: { kind: 'text', text: 'Olá, Bia' } });
      await waitingOnLocks(2);
      return [inbound, send];
    });
    await inbound;
    const sent = await send;
    expect(sent.status).toBe(202);
    const [message] = await stored(['wamid.SENDRACE1']);
    const [out] = await h.ds.query(`SELECT contact_id, conversation_id, body->>'to' AS to FROM chat_ingress.messages WHERE id = $1`, [sent.body.messageId]);
    expect(out).toEqual({ contact_id: message.contact_id, conversation_id: message.conversation_id, to: '+5541977006677' });
  });

  it('refuses bad signatures with 401 and stores nothing', async () => {
    const before = [await count('webhook_receipts'), await count('messages')];
    const raw = fixture('whatsapp-location-message.json');
    expect((await h.postMeta('whatsapp', channel.id, raw, 'wrong-secret')).status).toBe(401);
    expect((await h.postMeta('whatsapp', channel.id, raw, null)).status).toBe(401);
    expect((await h.postMeta('whatsapp', channel.id, raw, null, { 'x-hub-signature-256': 'sha256=zz' })).status).toBe(401);
    // Re-serialised JSON does not carry the signature of the original bytes.
    const res = await h.api('POST', `/webhooks/whatsapp/${channel.id}`, { 'content-type': 'application/json', 'x-hub-signature-256': metaSignature(JSON.stringify(JSON.parse(raw)), APP_SECRET) + '0' }, raw);
    expect(res.status).toBe(401);
    expect([await count('webhook_receipts'), await count('messages')]).toEqual(before);
  });

  it('answers malformed JSON 400, unknown channels 404, bodies over 3 MB 413', async () => {
    expect((await h.postMeta('whatsapp', channel.id, '{"entry": [', APP_SECRET)).status).toBe(400);
    expect((await h.postMeta('whatsapp', '2f1c3c55-0000-4000-8000-000000000000', fixture('whatsapp-text-message.json'), APP_SECRET)).status).toBe(404);
    expect((await h.postMeta('whatsapp', 'not-a-uuid', '{}', APP_SECRET)).status).toBe(404);
    expect((await h.postMeta('messenger', channel.id, fixture('whatsapp-text-message.json'), APP_SECRET)).status).toBe(404);
    const big = JSON.stringify({ object: 'whatsapp_business_account', entry: [], pad: 'x'.repeat(3 * 1024 * 1024 + 10) });
    const res = await h.postMeta('whatsapp', channel.id, big, APP_SECRET);
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ status: 413 });
  });

  it('processes every entry, change and message of a batch; bad and unsupported items are stored and marked', async () => {
    const msg = (id: string | undefined, from: string, extra: Record<string, unknown>) => ({ ...(id ? { id } : {}), from, timestamp: '1763801000', ...extra });
    const change = (messages: unknown[]) => ({ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { phone_number_id: '109876543210987' }, contacts: [{ wa_id: '5511987650001', profile: { name: 'Lote' } }], messages } });
    const body = {
      object: 'whatsapp_business_account',
      entry: [
        { id: '1', changes: [
          change([msg('wamid.B1', '5511987650001', { type: 'text', text: { body: 'um' } }), msg(undefined, '5511987650001', { type: 'text', text: { body: 'sem id' } })]),
          change([msg('wamid.B2', '5511987650001', { type: 'interactive', interactive: { type: 'list_reply', list_reply: { id: 'opt-2', title: '2ª via' } } })]),
        ] },
        { id: '2', changes: [change([
          msg('wamid.B3', '5511987650002', { type: 'location', location: { latitude: -23.5, longitude: -46.6 } }),
          msg('wamid.B4', '5511987650002', { type: 'reaction', reaction: { message_id: 'x', emoji: '👍' } }),
          msg('wamid.B5', '5511987650003', { type: 'image', image: { id: 'media-1', mime_type: 'image/jpeg', caption: 'foto' } }),
          msg('wamid.B6', '5511987650003', { type: 'contacts', contacts: [{ name: { formatted_name: 'Ana' }, phones: [{ phone: '+55 11 99999-0000' }] }] }),
        ])] },
      ],
    };
    const res = await h.postMeta('whatsapp', channel.id, JSON.stringify(body), APP_SECRET);
    expect(res).toEqual({ status: 200, body: { stored: 7, duplicates: 0, statuses: 0 } });
    const rows: Array<{ provider_message_id: string; status: string; kind: string }> = await h.ds.query(
      `SELECT provider_message_id, status, kind FROM chat_ingress.messages WHERE provider_message_id LIKE 'wamid.B%' OR (status = 'invalid' AND channel_id = $1) ORDER BY provider_message_id`, [channel.id]);
    expect(rows.map((r) => `${r.provider_message_id.startsWith('invalid:') ? 'invalid:*' : r.provider_message_id} ${r.status} ${r.kind}`)).toEqual([
      'invalid:* invalid unsupported', 'wamid.B1 received text', 'wamid.B2 received reply', 'wamid.B3 received location',
      'wamid.B4 unsupported unsupported', 'wamid.B5 received media', 'wamid.B6 received contacts',
    ]);
    await expectEventually(() => expect(received().filter((e) => e.data.providerMessageId.startsWith('wamid.B')).map((e) => e.data.message.kind).sort())
      .toEqual(['contacts', 'location', 'media', 'reply', 'text', 'unsupported']));
    // What each carries for integrations: the list reply's id and title, the media reference, the point, the shared contacts.
    const published = Object.fromEntries(received().filter((e) => e.data.providerMessageId.startsWith('wamid.B')).map((e) => [e.data.providerMessageId, e.data.message]));
    expect(published).toEqual({
      'wamid.B1': { kind: 'text', text: 'um' },
      'wamid.B2': { kind: 'reply', reply: { id: 'opt-2', title: '2ª via' }, text: '2ª via' },
      'wamid.B3': { kind: 'location', location: { lat: -23.5, lng: -46.6 } },
      'wamid.B4': { kind: 'unsupported', providerType: 'reaction' },
      'wamid.B5': { kind: 'media', media: { kind: 'image', id: 'media-1', mimeType: 'image/jpeg', caption: 'foto' }, text: 'foto' },
      'wamid.B6': { kind: 'contacts', contacts: [{ name: { formatted_name: 'Ana' }, phones: [{ phone: '+55 11 99999-0000' }] }] },
    });
    // The same batch again: all duplicates.
    expect((await h.postMeta('whatsapp', channel.id, JSON.stringify(body), APP_SECRET)).body).toEqual({ stored: 0, duplicates: 7, statuses: 0 });
  });

  it('a timestamp out of range is treated as absent (the time received): 200, its neighbours and itself stored', async () => {
    const value = {
      messaging_product: 'whatsapp', metadata: {}, contacts: [{ wa_id: '5511987650011', profile: { name: 'Tempo' } }],
      messages: [
        { id: 'wamid.T1', from: '5511987650011', timestamp: '1763801000', type: 'text', text: { body: 'bom' } },
        { id: 'wamid.T2', from: '5511987650011', timestamp: '99999999999999', type: 'text', text: { body: 'ano 3 milhões' } },
      ],
      statuses: [{ id: 'wamid.T.OUT', status: 'delivered', timestamp: '99999999999999', recipient_id: '5511987650011' }],
    };
    const before = Date.now();
    const res = await h.postMeta('whatsapp', channel.id, JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'messages', value }] }] }), APP_SECRET);
    expect(res).toEqual({ status: 200, body: { stored: 2, duplicates: 0, statuses: 1 } });
    const rows: Array<{ provider_message_id: string; status: string; at: string }> = await h.ds.query(
      `SELECT provider_message_id, status, provider_timestamp AS at FROM chat_ingress.messages WHERE provider_message_id LIKE 'wamid.T_' ORDER BY 1`);
    expect(rows.map((r) => [r.provider_message_id, r.status])).toEqual([['wamid.T1', 'received'], ['wamid.T2', 'received']]);
    expect(new Date(rows[0].at).toISOString()).toBe('2025-11-22T08:43:20.000Z');
    expect(new Date(rows[1].at).getTime()).toBeGreaterThanOrEqual(before);
    const status = await expectEventually(() => {
      const e = h.probe.ofType<{ providerMessageId: string; providerTimestamp: string }>('chat.message.status').find((x) => x.data.providerMessageId === 'wamid.T.OUT');
      expect(e).toBeDefined();
      return e!.data;
    });
    expect(Date.parse(status.providerTimestamp)).toBeGreaterThanOrEqual(before);
  });

  it('publishes every status of a batch once, moves sent messages only forward (out-of-order callbacks)', async () => {
    const send = await h.api<{ messageId: string }>('POST', '/messages', headers, { channelId: channel.id, contact: { phone: '+5541988445566' }, message: { kind: 'text', text: 'Seu boleto' } });
    expect(send.status).toBe(202);
    const sent = await expectEventually(() => {
      const e = h.probe.ofType<{ messageId: string; providerMessageId: string }>('chat.message.sent').find((x) => x.data.messageId === send.body.messageId);
      expect(e).toBeDefined();
      return e!.data;
    });
    const statuses = (list: Array<[string, string]>) => JSON.stringify({
      object: 'whatsapp_business_account',
      entry: [{ id: '1', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: {}, statuses: list.map(([status, ts]) => ({ id: sent.providerMessageId, status, timestamp: ts, recipient_id: '5541988445566' })) } }] }],
    });
    expect((await h.postMeta('whatsapp', channel.id, statuses([['read', '1763800130']]), APP_SECRET)).body).toMatchObject({ statuses: 1 });
    expect((await h.postMeta('whatsapp', channel.id, statuses([['delivered', '1763800125'], ['read', '1763800130']]), APP_SECRET)).body).toMatchObject({ statuses: 1 });
    const row = await h.ds.query('SELECT status FROM chat_ingress.messages WHERE id = $1', [send.body.messageId]);
    expect(row[0].status).toBe('read');
    await expectEventually(() => expect(h.probe.ofType<{ messageId?: string; status: string }>('chat.message.status').filter((e) => e.data.messageId === send.body.messageId).map((e) => e.data.status).sort()).toEqual(['delivered', 'read']));

    // The fixture: four statuses of two messages we did not send from here, failed with its error.
    expect((await h.postMeta('whatsapp', channel.id, fixture('whatsapp-statuses-batch.json'), APP_SECRET)).body).toMatchObject({ statuses: 4 });
    const failed = await expectEventually(() => {
      const e = h.probe.ofType<{ providerMessageId: string; status: string; error?: { code: string; title: string; details: string } }>('chat.message.status').find((x) => x.data.providerMessageId === 'wamid.OUT0002' && x.data.status === 'failed');
      expect(e).toBeDefined();
      return e!.data;
    });
    expect(failed.error).toEqual({ code: '131047', title: 'Re-engagement message', details: expect.stringContaining('24 hours') });
    expect((await h.postMeta('whatsapp', channel.id, fixture('whatsapp-statuses-batch.json'), APP_SECRET)).body).toMatchObject({ statuses: 0 });
  });

  it('a lone surrogate in a signed text is stored and published as U+FFFD; its neighbours are stored too (not a 500)', async () => {
    const msg = (id: string, text: string) => ({ from: '5541988441122', id, timestamp: '1763800200', type: 'text', text: { body: text } });
    const raw = JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp', metadata: {}, contacts: [{ wa_id: '5541988441122', profile: { name: 'Lu\udc00' } }],
      messages: [msg('wamid.SURR.1', 'antes'), msg('wamid.SURR.2', 'a\ud800b'), msg('wamid.SURR.3', 'depois 😀')] } }] }] });
    expect(raw).toContain('\\ud800'); // JSON.stringify escapes a lone surrogate: the body is what a provider can send
    const res = await h.postMeta('whatsapp', channel.id, raw, APP_SECRET);
    expect(res).toMatchObject({ status: 200, body: { stored: 3 } });
    const rows: Array<{ provider_message_id: string; text: string }> = await h.ds.query(
      `SELECT provider_message_id, body->>'text' AS text FROM chat_ingress.messages WHERE provider_message_id LIKE 'wamid.SURR.%' ORDER BY provider_message_id`);
    expect(rows).toEqual([{ provider_message_id: 'wamid.SURR.1', text: 'antes' }, { provider_message_id: 'wamid.SURR.2', text: 'a\uFFFDb' }, { provider_message_id: 'wamid.SURR.3', text: 'depois 😀' }]);
    await expectEventually(() => {
      const e = h.probe.ofType<{ providerMessageId: string; contact: { name?: string }; message: { text?: string } }>('chat.message.received').find((x) => x.data.providerMessageId === 'wamid.SURR.2');
      expect(e?.data).toMatchObject({ contact: { name: 'Lu\uFFFD' }, message: { text: 'a\uFFFDb' } });
    });
  });


  it('a location beyond the event contract (name over 500, address over 1,000 characters, latitude past 90) does not fail its webhook: cut to the contract\'s lengths, or stored unsupported', async () => {
    const loc = (id: string, location: Record<string, unknown>) => ({ from: '5541988441133', id, timestamp: '1763800300', type: 'location', location });
    const raw = JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp', metadata: {}, contacts: [{ wa_id: '5541988441133', profile: { name: 'Loc' } }],
      messages: [
        { from: '5541988441133', id: 'wamid.LOC.1', timestamp: '1763800300', type: 'text', text: { body: 'segue' } },
        loc('wamid.LOC.2', { latitude: -25.43, longitude: -49.27, name: 'n'.repeat(600), address: 'a'.repeat(1200) }),
        loc('wamid.LOC.3', { latitude: 91, longitude: -49.27 }),
      ] } }] }] });
    expect(await h.postMeta('whatsapp', channel.id, raw, APP_SECRET)).toEqual({ status: 200, body: { stored: 3, duplicates: 0, statuses: 0 } });
    const rows: Array<{ pmid: string; status: string }> = await h.ds.query(
      `SELECT provider_message_id AS pmid, status FROM chat_ingress.messages WHERE provider_message_id LIKE 'wamid.LOC.%' ORDER BY 1`);
    expect(rows).toEqual([{ pmid: 'wamid.LOC.1', status: 'received' }, { pmid: 'wamid.LOC.2', status: 'received' }, { pmid: 'wamid.LOC.3', status: 'unsupported' }]);
    await expectEventually(() => {
      const e = h.probe.ofType<{ providerMessageId: string; message: { location?: { lat: number; name?: string; address?: string } } }>('chat.message.received').find((x) => x.data.providerMessageId === 'wamid.LOC.2');
      expect(e?.data.message.location).toEqual({ lat: -25.43, lng: -49.27, name: 'n'.repeat(500), address: 'a'.repeat(1000) });
    });
  });
  it('deletes raw webhook bodies past WEBHOOK_RECEIPT_RETENTION_DAYS (30 by default) and keeps the younger ones and the messages', async () => {
    const raw = fixture('whatsapp-text-message.json');
    for (let i = 0; i < 2; i++) expect((await h.postMeta('whatsapp', channel.id, raw, APP_SECRET)).status).toBe(200);
    const messages = await count('messages');
    await expectRetained(h.ds, () => h.app.get(RetentionSweeper).sweep(), { table: '"chat_ingress".webhook_receipts', column: 'received_at', days: 30 });
    expect(await count('messages')).toBe(messages);
  });
});
