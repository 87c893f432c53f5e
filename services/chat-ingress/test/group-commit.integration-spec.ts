import { expectEventually } from '@elo/testing';
import { IngestService } from '../src/webhooks/ingest.service';
import { startHarness, type Harness } from './support/harness';

const APP_SECRET = 'group-commit-app-secret';
type Counts = { stored: number; duplicates: number; statuses: number };

/**
 * A signed-ready WhatsApp webhook: one text message (from a phone, a business-scoped user id, or both), or statuses of
 * one message we sent.
 */
const text = (id: string, from: string | undefined, body: string, userId?: string) => JSON.stringify({
  object: 'whatsapp_business_account',
  entry: [{ id: 'WABA', changes: [{ field: 'messages', value: {
    messaging_product: 'whatsapp', metadata: { display_phone_number: '554130001000', phone_number_id: '109876543210999' },
    contacts: [{ ...(from ? { wa_id: from } : {}), ...(userId ? { user_id: userId } : {}), profile: { name: 'Cliente' } }],
    messages: [{ ...(from ? { from } : {}), ...(userId ? { from_user_id: userId } : {}), id, timestamp: '1763800000', type: 'text', text: { body } }],
  } }] }],
});
const statuses = (id: string) => JSON.stringify({
  object: 'whatsapp_business_account',
  entry: [{ id: 'WABA', changes: [{ field: 'messages', value: {
    messaging_product: 'whatsapp', metadata: { display_phone_number: '554130001000', phone_number_id: '109876543210999' },
    statuses: ['sent', 'delivered'].map((status) => ({ id, status, timestamp: '1763800001', recipient_id: '5541988445566' })),
  } }] }],
});

describe('chat-ingress: group commit of concurrent webhooks', () => {
  let h: Harness;
  let channelId: string;

  beforeAll(async () => {
    // One lane that waits 30 ms for company, so concurrent webhooks surely share transactions.
    h = await startHarness('chat_ingress_group_commit', { INGEST_CONCURRENCY: '1', INGEST_LINGER_MS: '30' });
    const { headers } = await h.tenantKey();
    const res = await h.api<{ id: string }>('POST', '/channels', headers, { provider: 'whatsapp', name: 'grupo', phoneNumberId: '109876543210999', credentials: { accessToken: 't', appSecret: APP_SECRET } });
    expect(res.status).toBe(201);
    channelId = res.body.id;
  });

  afterAll(async () => {
    await h?.close();
  });

  const post = (raw: string) => h.postMeta('whatsapp', channelId, raw, APP_SECRET) as Promise<{ status: number; body: Counts }>;
  let pacers = 0;
  /**
   * Posts `raws` so that they are written in one group whatever the machine's pace (two requests a moment apart could miss
   * each other's 30 ms linger): a pacer webhook takes the one lane and its write waits on the locked receipts table until
   * every one of `raws` is queued behind it; the lane then takes them together.
   */
  const postInOneGroup = async (raws: string[]): Promise<Array<{ status: number; body: Counts }>> => {
    const ingest = h.app.get(IngestService);
    const queued = jest.spyOn(ingest, 'ingest');
    const written = jest.spyOn(ingest, 'store');
    const blocker = h.ds.createQueryRunner();
    await blocker.connect();
    await blocker.startTransaction();
    try {
      await blocker.query('LOCK TABLE chat_ingress.webhook_receipts IN SHARE MODE');
      const pacer = post(statuses(`wamid.GC.PACER.${++pacers}`));
      await expectEventually(() => expect(written).toHaveBeenCalledTimes(1));
      const answers = Promise.all(raws.map(post));
      await expectEventually(() => expect(queued).toHaveBeenCalledTimes(1 + raws.length));
      await blocker.commitTransaction();
      expect((await pacer).status).toBe(200);
      return await answers;
    } finally {
      if (blocker.isTransactionActive) await blocker.rollbackTransaction();
      await blocker.release();
      queued.mockRestore();
      written.mockRestore();
    }
  };
  const receivedIds = () => h.probe.ofType<{ providerMessageId: string; channelId: string }>('chat.message.received').filter((e) => e.data.channelId === channelId).map((e) => e.data.providerMessageId);

  it('shares transactions between concurrent webhooks and answers each with its own counts once committed', async () => {
    const firsts = Array.from({ length: 30 }, (_, i) => text(`wamid.GC.${i}`, `55419${String(80000000 + i)}`, `mensagem ${i}`));
    const repeats = firsts.slice(0, 5);
    const status = Array.from({ length: 5 }, (_, i) => statuses(`wamid.GC.OUT.${i}`));
    const nul = text('wamid.GC.NUL', '5541980000099', 'a\u0000b').replace('"Cliente"', '"Ana\\u0000Lu"');
    const answers = await Promise.all([...firsts, ...repeats, ...status, nul].map(post));

    expect(answers.every((a) => a.status === 200)).toBe(true);
    // A message and its repeat: one of the two stored it, the other was told it is a duplicate.
    for (let i = 0; i < 5; i++) expect([answers[i].body, answers[30 + i].body].map((b) => b.stored).sort()).toEqual([0, 1]);
    answers.slice(5, 30).forEach((a) => expect(a.body).toEqual({ stored: 1, duplicates: 0, statuses: 0 }));
    answers.slice(35, 40).forEach((a) => expect(a.body).toEqual({ stored: 0, duplicates: 0, statuses: 2 }));
    expect(answers[40].body).toEqual({ stored: 1, duplicates: 0, statuses: 0 });

    const [r] = await h.ds.query(`SELECT count(*)::int AS receipts, count(DISTINCT xmin::text)::int AS transactions FROM chat_ingress.webhook_receipts WHERE channel_id = $1`, [channelId]);
    expect(r.receipts).toBe(41);
    expect(r.transactions).toBeLessThan(41);
    const [m] = await h.ds.query(`SELECT count(*)::int AS n FROM chat_ingress.messages WHERE channel_id = $1 AND direction = 'in'`, [channelId]);
    expect(m.n).toBe(31);
    // U+0000 cannot live in PostgreSQL text: it is stored as U+FFFD instead of failing the group, and published as stored.
    const [nulRow] = await h.ds.query(`SELECT m.body->>'text' AS text, c.name FROM chat_ingress.messages m JOIN chat_ingress.contacts c ON c.id = m.contact_id
      WHERE m.channel_id = $1 AND m.provider_message_id = 'wamid.GC.NUL'`, [channelId]);
    expect(nulRow).toEqual({ text: 'a\uFFFDb', name: 'Ana\uFFFDLu' });
    const nulEvent = await expectEventually(() => {
      const e = h.probe.ofType<{ providerMessageId: string; message: { text: string }; contact: { name: string } }>('chat.message.received').find((x) => x.data.providerMessageId === 'wamid.GC.NUL');
      expect(e).toBeDefined();
      return e!.data;
    });
    expect(nulEvent).toMatchObject({ message: { text: 'a\uFFFDb' }, contact: { name: 'Ana\uFFFDLu' } });
    await expectEventually(() => expect(receivedIds().sort()).toEqual([...Array.from({ length: 30 }, (_, i) => `wamid.GC.${i}`), 'wamid.GC.NUL'].sort()));
    const statusKeys = () => h.probe.ofType<{ providerMessageId: string; channelId: string; status: string }>('chat.message.status')
      .filter((e) => e.data.channelId === channelId).map((e) => `${e.data.providerMessageId}:${e.data.status}`).sort();
    await expectEventually(() => expect(statusKeys()).toEqual(Array.from({ length: 5 }, (_, i) => [`wamid.GC.OUT.${i}:delivered`, `wamid.GC.OUT.${i}:sent`]).flat().sort()));
  });

  it('a customer\'s message with the user id alone and one with phone and user id, in one group, make one contact (with the phone) and one conversation', async () => {
    const answers = await postInOneGroup([text('wamid.GC.UID.1', undefined, 'oi', 'BR.5500112233'), text('wamid.GC.UID.2', '5541980001122', 'meu número', 'BR.5500112233')]);
    expect(answers).toEqual([0, 1].map(() => ({ status: 200, body: { stored: 1, duplicates: 0, statuses: 0 } })));
    const rows = await h.ds.query(`SELECT m.xmin::text AS tx, m.contact_id, m.conversation_id, c.phone, c.provider_user_id FROM chat_ingress.messages m
      JOIN chat_ingress.contacts c ON c.id = m.contact_id WHERE m.channel_id = $1 AND m.provider_message_id LIKE 'wamid.GC.UID.%' ORDER BY m.provider_message_id`, [channelId]);
    expect(rows).toHaveLength(2);
    expect(rows[1]).toEqual(rows[0]);
    expect(rows[0]).toMatchObject({ phone: '+5541980001122', provider_user_id: 'BR.5500112233' });
    const [contacts] = await h.ds.query(`SELECT count(*)::int AS n FROM chat_ingress.contacts WHERE channel_id = $1 AND (provider_user_id = 'BR.5500112233' OR phone = '+5541980001122')`, [channelId]);
    expect(contacts.n).toBe(1);
  });

  it('a customer first known by the user id alone: their phone-and-user-id message and one with the phone alone, in one group, are that contact and conversation', async () => {
    expect((await post(text('wamid.GC.REKEY.1', undefined, 'oi', 'BR.5500223344'))).body).toEqual({ stored: 1, duplicates: 0, statuses: 0 });
    const answers = await postInOneGroup([text('wamid.GC.REKEY.2', '5541980002233', 'meu número', 'BR.5500223344'), text('wamid.GC.REKEY.3', '5541980002233', 'sem user id')]);
    expect(answers).toEqual([0, 1].map(() => ({ status: 200, body: { stored: 1, duplicates: 0, statuses: 0 } })));
    const rows = await h.ds.query(`SELECT m.xmin::text AS tx, m.contact_id, m.conversation_id, c.phone, c.provider_user_id FROM chat_ingress.messages m
      JOIN chat_ingress.contacts c ON c.id = m.contact_id WHERE m.channel_id = $1 AND m.provider_message_id LIKE 'wamid.GC.REKEY.%' ORDER BY m.provider_message_id`, [channelId]);
    expect(rows).toHaveLength(3);
    expect(rows[2]).toEqual(rows[1]);
    expect(rows[1]).toMatchObject({ contact_id: rows[0].contact_id, conversation_id: rows[0].conversation_id, phone: '+5541980002233', provider_user_id: 'BR.5500223344' });
    const [contacts] = await h.ds.query(`SELECT count(*)::int AS n FROM chat_ingress.contacts WHERE channel_id = $1 AND (provider_user_id = 'BR.5500223344' OR phone = '+5541980002233')`, [channelId]);
    expect(contacts.n).toBe(1);
  });

  it('a webhook whose write fails fails alone: its neighbours in the group are stored and answered 200', async () => {
    await h.ds.query(`CREATE FUNCTION chat_ingress.poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.provider_message_id = 'wamid.GC.POISON' THEN RAISE EXCEPTION 'poisoned row'; END IF; RETURN NEW; END $$`);
    await h.ds.query(`CREATE TRIGGER poison BEFORE INSERT ON chat_ingress.messages FOR EACH ROW EXECUTE FUNCTION chat_ingress.poison()`);
    try {
      const neighbours = Array.from({ length: 9 }, (_, i) => text(`wamid.GC.N${i}`, `55419${String(81000000 + i)}`, `vizinho ${i}`));
      const poison = text('wamid.GC.POISON', '5541981000099', 'veneno');
      const answers = await Promise.all([...neighbours.slice(0, 4), poison, ...neighbours.slice(4)].map(post));
      expect(answers[4].status).toBeGreaterThanOrEqual(500);
      expect(answers.filter((_, i) => i !== 4).map((a) => [a.status, a.body.stored])).toEqual(Array.from({ length: 9 }, () => [200, 1]));
      const stored = await h.ds.query(`SELECT provider_message_id FROM chat_ingress.messages WHERE channel_id = $1 AND (provider_message_id ~ '^wamid[.]GC[.]N[0-9]$' OR provider_message_id = 'wamid.GC.POISON')`, [channelId]);
      expect(stored.map((x: { provider_message_id: string }) => x.provider_message_id).sort()).toEqual(Array.from({ length: 9 }, (_, i) => `wamid.GC.N${i}`));
      // Nothing of the failed webhook was kept: no raw receipt, no event.
      const [poisonReceipts] = await h.ds.query(`SELECT count(*)::int AS n FROM chat_ingress.webhook_receipts WHERE channel_id = $1 AND body LIKE '%wamid.GC.POISON%'`, [channelId]);
      expect(poisonReceipts.n).toBe(0);
      await expectEventually(() => expect(receivedIds().filter((id) => /^wamid\.GC\.N\d$/.test(id))).toHaveLength(9));
      expect(receivedIds()).not.toContain('wamid.GC.POISON');
    } finally {
      await h.ds.query(`DROP TRIGGER poison ON chat_ingress.messages; DROP FUNCTION chat_ingress.poison()`);
    }
    // The provider's retry then goes through.
    expect((await post(text('wamid.GC.POISON', '5541981000099', 'veneno'))).body).toEqual({ stored: 1, duplicates: 0, statuses: 0 });
  });
});
