import { randomUUID } from 'node:crypto';
import { createEvent } from '@elo/contracts';
import { callApi, expectEventually } from '@elo/testing';
import { FlowEngine } from '../src/flow/flow-engine.service';
import { FlowScheduler } from '../src/flow/flow-scheduler.service';
import { keepFlowDue } from '../src/flow/flow-due';
import { startHarness, tickFor, type Harness } from './support/harness';

const SECRET = 'flow-app-secret';

const FLOW = {
  start: 'menu',
  steps: {
    menu: { type: 'menu', text: 'Olá! Como podemos ajudar?', invalidText: 'Não entendi.', options: [
      { id: 'boleto', title: '2ª via do boleto', next: 'ask_cpf' },
      { id: 'humano', title: 'Falar com atendente', next: 'to_human' },
    ] },
    ask_cpf: { type: 'question', text: 'Informe seu CPF ou CNPJ', validate: 'cpf_cnpj', attribute: 'cpf', invalidText: 'Documento inválido, tente de novo.', next: 'boleto' },
    boleto: { type: 'integration', integration: 'billing', waitText: 'Um momento, buscando seu boleto…', successText: 'Aqui está seu boleto: {reply}', failureText: 'Não encontrei seu boleto.', onSuccess: 'end', onFailure: 'to_human' },
    end: { type: 'close', text: 'Obrigado pelo contato!' },
    to_human: { type: 'transfer', queue: 'atendimento', text: 'Vou te passar para um atendente.' },
  },
};

/**
 * A test that moves a conversation's stored times back (time passing), or writes conversations itself, gives them the due
 * time the service would (keepFlowDue): the flow scheduler's tick reads only conversations whose due time has come.
 */
describe('chat-ingress: bot flow and conversation moves', () => {
  let h: Harness;
  let headers: Record<string, string>;
  let tenantId: string;
  let channel: { id: string };
  let seq = 0;

  beforeAll(async () => {
    h = await startHarness('chat_ingress_flow', { CHAT_WORKERS: 'on', FLOW_TICK_MS: '3600000' });
    ({ headers, tenantId } = await h.tenantKey());
    channel = (await h.api<{ id: string }>('POST', '/channels', headers, {
      provider: 'whatsapp', name: 'Atendimento', phoneNumberId: 'PNFLOW',
      credentials: { accessToken: 'tok', appSecret: SECRET },
      settings: { botQueue: 'bot', humanQueue: 'atendimento', pickupNotice: 'with_agent_name', closingMessage: 'Atendimento encerrado.', reminderMessage: 'Ainda está aí?' },
    })).body;
    const saved = await h.api<{ version: number }>('PUT', '/flow', headers, FLOW);
    expect(saved).toMatchObject({ status: 200, body: { version: 1 } });
  });

  afterAll(async () => {
    await h?.close();
  });

  const customer = (phone: string) => ({
    say: async (m: Record<string, unknown>) => {
      const body = { object: 'whatsapp_business_account', entry: [{ id: 'W', changes: [{ field: 'messages', value: {
        messaging_product: 'whatsapp', metadata: { phone_number_id: 'PNFLOW' }, contacts: [{ wa_id: phone, profile: { name: 'Cliente' } }],
        messages: [{ from: phone, id: `wamid.IN.${phone}.${++seq}`, timestamp: String(Math.floor(Date.now() / 1000)), ...m }] } }] }] };
      const res = await h.postMeta('whatsapp', channel.id, JSON.stringify(body), SECRET);
      expect(res.status).toBe(200);
    },
    text: (t: string) => customer(phone).say({ type: 'text', text: { body: t } }),
    /** What the fake WhatsApp API got for this customer, as text. */
    got: () => h.fakes.sent('/graph/PNFLOW/messages').filter((r) => r.body.to === phone).map((r) => {
      const b = r.body as { text?: { body: string }; interactive?: { body: { text: string } } };
      return b.text?.body ?? b.interactive?.body.text ?? '';
    }),
  });
  const conversationOf = async (phone: string) => (await h.ds.query(
    `SELECT c.* FROM chat_ingress.conversations c JOIN chat_ingress.contacts ct ON ct.id = c.contact_id WHERE ct.phone = $1 ORDER BY c.opened_at DESC LIMIT 1`, [`+${phone}`]))[0];

  it('greeting menu → "2ª via do boleto" → CPF → billing integration → boleto link sent, status tracked, closed', async () => {
    const ana = customer('5541999990001');
    await ana.text('Oi');
    await expectEventually(() => expect(ana.got()).toEqual(['Olá! Como podemos ajudar?\n1 - 2ª via do boleto\n2 - Falar com atendente']));
    const menuCall = h.fakes.sent('/graph/PNFLOW/messages').find((r) => r.body.to === '5541999990001')!;
    expect(menuCall.body).toMatchObject({ type: 'interactive', interactive: { type: 'button', action: { buttons: [{ reply: { id: 'boleto', title: '2ª via do boleto' } }, { reply: { id: 'humano' } }] } } });

    await ana.text('quero pizza');
    await expectEventually(() => expect(ana.got().slice(1)).toEqual(['Não entendi.', expect.stringContaining('Olá! Como podemos ajudar?')]));

    await ana.say({ type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: 'boleto', title: '2ª via do boleto' } } });
    await expectEventually(() => expect(ana.got().at(-1)).toBe('Informe seu CPF ou CNPJ'));
    await ana.text('123.456.789-00');
    await expectEventually(() => expect(ana.got().at(-1)).toBe('Documento inválido, tente de novo.'));
    await ana.text('529.982.247-25');
    const request = await expectEventually(() => {
      const e = h.probe.ofType<{ requestId: string; integration: string; conversationId: string; context: Record<string, unknown> }>('integration.requested').at(-1);
      expect(e?.data.integration).toBe('billing');
      return e!;
    });
    expect(request.tenantid).toBe(tenantId);
    expect(request.data.context).toMatchObject({ cpf: '52998224725', contact: { phone: '+5541999990001', attributes: { cpf: '52998224725' } } });
    await expectEventually(() => expect(ana.got().at(-1)).toBe('Um momento, buscando seu boleto…'));

    // The dispatcher's answer (simulated): the fake ERP gave the boleto link.
    await h.probe.publish(createEvent({
      type: 'integration.delivery.succeeded', source: 'elo://webhook-dispatcher', tenantId,
      data: { deliveryId: randomUUID(), integrationId: randomUUID(), integrationName: 'billing', eventId: request.id, eventType: 'integration.requested', requestId: request.data.requestId, conversationId: request.data.conversationId, outcome: 'succeeded', httpStatus: 200, response: { url: 'https://erp.example.com/boletos/123.pdf' }, attempts: 1, reply: 'https://erp.example.com/boletos/123.pdf' },
    }));
    await expectEventually(() => expect(ana.got().slice(-2)).toEqual(['Aqui está seu boleto: https://erp.example.com/boletos/123.pdf', 'Obrigado pelo contato!']));
    await expectEventually(() => expect(h.probe.ofType<{ conversationId: string; reason: string }>('chat.conversation.closed').find((e) => e.data.conversationId === request.data.conversationId)?.data.reason).toBe('bot'));

    // The boleto message's delivery is tracked from the provider's status callback.
    const boleto = (await h.ds.query(`SELECT id, provider_message_id FROM chat_ingress.messages WHERE conversation_id = $1 AND body->'message'->>'text' LIKE 'Aqui está%'`, [request.data.conversationId]))[0];
    await expectEventually(() => expect(h.probe.ofType<{ messageId: string; providerMessageId: string }>('chat.message.sent').find((e) => e.data.messageId === boleto.id)).toBeDefined());
    const sentRow = (await h.ds.query('SELECT provider_message_id FROM chat_ingress.messages WHERE id = $1', [boleto.id]))[0];
    const status = { object: 'whatsapp_business_account', entry: [{ id: 'W', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: {}, statuses: [{ id: sentRow.provider_message_id, status: 'delivered', timestamp: String(Math.floor(Date.now() / 1000)), recipient_id: '5541999990001' }] } }] }] };
    expect((await h.postMeta('whatsapp', channel.id, JSON.stringify(status), SECRET)).body).toMatchObject({ statuses: 1 });
    await expectEventually(() => expect(h.probe.ofType<{ messageId: string; status: string }>('chat.message.status').find((e) => e.data.messageId === boleto.id)?.data.status).toBe('delivered'));

    await h.settled();
    const steps = h.probe.ofType<{ conversationId: string; stepId: string; outcome: string }>('chat.flow.step').filter((e) => e.data.conversationId === request.data.conversationId).map((e) => `${e.data.stepId}:${e.data.outcome}`);
    expect(steps).toEqual(expect.arrayContaining(['menu:entered', 'menu:invalid', 'menu:answered', 'ask_cpf:entered', 'ask_cpf:invalid', 'ask_cpf:answered', 'boleto:entered', 'boleto:waiting', 'boleto:succeeded', 'end:entered']));
  });

  it('transfers to the human queue (bot goes quiet), agent pickup notice with name, transfer by event, close message', async () => {
    const bia = customer('5541999990002');
    await bia.text('bom dia');
    await expectEventually(() => expect(bia.got()).toHaveLength(1));
    await bia.text('2');
    await expectEventually(() => expect(bia.got().slice(1)).toEqual(['Vou te passar para um atendente.', 'Estamos transferindo seu atendimento.', 'Aguarde um momento: em breve um atendente vai falar com você.']));
    const conv = await conversationOf('5541999990002');
    expect(conv.queue).toBe('atendimento');
    await expectEventually(() => expect(h.probe.ofType<{ conversationId: string; fromQueue: string; toQueue: string }>('chat.conversation.transferred').find((e) => e.data.conversationId === conv.id)?.data).toMatchObject({ fromQueue: 'bot', toQueue: 'atendimento' }));

    const outbound = async () => (await h.ds.query(`SELECT count(*)::int AS n FROM chat_ingress.messages WHERE conversation_id = $1 AND direction = 'out'`, [conv.id]))[0].n;
    const sentBefore = await outbound();
    await bia.text('alô?');
    const alo = await expectEventually(() => {
      const e = h.probe.ofType<{ conversationId: string; message: { text: string } }>('chat.message.received').find((x) => x.data.conversationId === conv.id && x.data.message.text === 'alô?');
      expect(e).toBeDefined();
      return e!;
    });
    // The bot stays quiet: once the flow has handled the message (its inbox row commits with anything it would send), nothing more is queued.
    await expectEventually(async () => expect(await h.ds.query('SELECT 1 FROM chat_ingress.inbox WHERE event_id = $1', [alo.id])).not.toHaveLength(0));
    expect(await outbound()).toBe(sentBefore);
    expect(bia.got()).toHaveLength(4);

    const agent = await h.api('PUT', '/queues/atendimento/agents', headers, { agentId: 'carla', agentName: 'Carla' });
    expect(agent).toMatchObject({ status: 200, body: [{ agentId: 'carla', agentName: 'Carla' }] });
    expect((await h.api('POST', `/conversations/${conv.id}/assign`, headers, { agentId: 'carla', agentName: 'Carla' })).status).toBe(200);
    await expectEventually(() => expect(bia.got().at(-1)).toBe('Olá! Você está falando com Carla.'));

    const attrs = await h.api<{ attributes: Record<string, string> }>('PATCH', `/contacts/${conv.contact_id}`, headers, { attributes: { email: 'bia@example.com', plano: '500 mega' } });
    expect(attrs.body.attributes).toEqual({ email: 'bia@example.com', plano: '500 mega' });
    // Attributes are strings (null removes one): anything else is a 400 naming it, and nothing changes.
    const bad = await callApi<{ status: number; detail: string }>(h.url, 'PATCH', `/contacts/${conv.contact_id}`, undefined, { name: 'Outra', attributes: { x: { nested: 1 }, arr: [1, 2], age: 5, plano: 'novo' } }, headers);
    expect(bad).toMatchObject({ status: 400, body: { status: 400, detail: 'attributes: attributes.x, attributes.arr, attributes.age must be a string or null' } });
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
    expect((await h.api('PATCH', `/contacts/${conv.contact_id}`, headers, { attributes: [1, 2] })).body).toMatchObject({ status: 400, detail: 'attributes: attributes must be an object of strings or nulls' });
    // A key named __proto__ (JSON makes it an own key) is refused by name, not dropped with a 200.
    expect((await h.api('PATCH', `/contacts/${conv.contact_id}`, headers, { attributes: JSON.parse('{"__proto__":"x","plano":"novo"}') })).body)
      .toMatchObject({ status: 400, detail: 'attributes.__proto__: __proto__ is not a field name this API takes' });
    expect((await h.api<{ contact: unknown }>('GET', `/conversations/${conv.id}`, headers)).body.contact).toMatchObject({ name: 'Cliente', attributes: { email: 'bia@example.com', plano: '500 mega' } });
    await bia.text('obrigada');
    await expectEventually(() => expect(h.probe.ofType<{ conversationId: string; message: { text: string }; contact: { attributes?: Record<string, string> } }>('chat.message.received').find((e) => e.data.conversationId === conv.id && e.data.message.text === 'obrigada')?.data.contact.attributes).toEqual({ email: 'bia@example.com', plano: '500 mega' }));

    await h.probe.publish(createEvent({ type: 'chat.conversation.transfer.requested', source: 'elo://test', tenantId, data: { conversationId: conv.id, toQueue: 'financeiro' } }));
    await expectEventually(async () => expect((await conversationOf('5541999990002')).queue).toBe('financeiro'));

    const closed = await h.api<{ status: string }>('POST', `/conversations/${conv.id}/close`, headers, { reason: 'resolved' });
    expect(closed.body.status).toBe('closed');
    await expectEventually(() => expect(bia.got().at(-1)).toBe('Atendimento encerrado.'));
    await expectEventually(() => expect(h.probe.ofType<{ conversationId: string; reason: string }>('chat.conversation.closed').find((e) => e.data.conversationId === conv.id)?.data.reason).toBe('resolved'));
    expect((await h.api('POST', `/conversations/${conv.id}/transfer`, headers, { queue: 'x' })).status).toBe(409);
    const other = await h.tenantKey();
    expect((await h.api('GET', `/conversations/${conv.id}`, other.headers)).status).toBe(404);
    expect((await h.api('PATCH', `/contacts/${conv.contact_id}`, other.headers, { attributes: { x: '1' } })).status).toBe(404);
    expect((await h.api('PATCH', '/contacts/not-a-uuid', headers, { attributes: {} })).status).toBe(400);
    expect((await h.api('GET', '/conversations/not-a-uuid', headers)).status).toBe(400);
  });

  it('an edited Telegram message answers nothing (the step it edits already had its answer); the next message is answered', async () => {
    const tg = (await h.api<{ id: string; secrets: Record<string, string> }>('POST', '/channels', headers, {
      provider: 'telegram', name: 'tg', botName: 'elo_bot', credentials: { accessToken: '77:tg-flow' }, settings: { botQueue: 'bot', humanQueue: 'atendimento' },
    })).body;
    const chat = 880000777;
    const now = Math.floor(Date.now() / 1000);
    let update = 990000;
    const post = async (kind: 'message' | 'edited_message', messageId: number, text: string) => {
      const body = { update_id: ++update, [kind]: { message_id: messageId, date: now, ...(kind === 'edited_message' ? { edit_date: now + 1 } : {}), chat: { id: chat, type: 'private' }, from: { id: chat, first_name: 'Rui' }, text } };
      const res = await h.api('POST', `/webhooks/telegram/${tg.id}`, { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': tg.secrets.telegramSecretToken }, body);
      expect(res).toMatchObject({ status: 200, body: { stored: 1 } });
      return String(update);
    };
    const got = () => h.fakes.sent('/tg/bot77:tg-flow/sendMessage').map((r) => (r.body as { text: string }).text);
    await post('message', 1, 'oi');
    await expectEventually(() => expect(got()).toEqual([expect.stringContaining('Olá! Como podemos ajudar?')]));
    // The customer corrects the greeting to "1": an edit, not an answer to the menu.
    const edit = await post('edited_message', 1, '1');
    const edited = await expectEventually(() => {
      const e = h.probe.ofType<{ providerMessageId: string; conversationId: string; message: { edited?: boolean } }>('chat.message.received').find((x) => x.data.providerMessageId === edit);
      expect(e?.data.message.edited).toBe(true);
      return e!;
    });
    // Handled by the flow (its inbox row commits with anything it would send): nothing queued for the customer.
    await expectEventually(async () => expect(await h.ds.query('SELECT 1 FROM chat_ingress.inbox WHERE event_id = $1', [edited.id])).not.toHaveLength(0));
    expect(await h.ds.query(`SELECT count(*)::int AS n FROM chat_ingress.messages WHERE conversation_id = $1 AND direction = 'out'`, [edited.data.conversationId])).toEqual([{ n: 1 }]);
    // Every step event written so far (the greeting's, and any the edit would have made) is on the bus.
    await h.settled();
    const steps = () => h.probe.ofType<{ conversationId: string; stepId: string; outcome: string }>('chat.flow.step').filter((e) => e.data.conversationId === edited.data.conversationId).map((e) => `${e.data.stepId}:${e.data.outcome}`);
    expect(steps()).toEqual(['menu:entered']);
    await post('message', 2, '2');
    await expectEventually(() => expect(got()).toContain('Vou te passar para um atendente.'));
    await expectEventually(() => expect(steps()).toEqual(expect.arrayContaining(['menu:answered'])));
  });

  it('Telegram Business: every reply into a business chat (the bot\'s, POST /messages, agent notices, the closing message) carries its business_connection_id; a chat with the bot itself none', async () => {
    const tg = (await h.api<{ id: string; secrets: Record<string, string> }>('POST', '/channels', headers, {
      provider: 'telegram', name: 'tg business', botName: 'elo_bot', credentials: { accessToken: '78:tg-business' },
      settings: { botQueue: 'bot', humanQueue: 'atendimento', pickupNotice: 'with_agent_name', closingMessage: 'Atendimento encerrado.' },
    })).body;
    const chat = 880000888;
    let update = 991000;
    const post = async (kind: 'message' | 'business_message', text: string) => {
      const m = { message_id: update, date: Math.floor(Date.now() / 1000), chat: { id: chat, type: 'private', first_name: 'Lia' }, from: { id: chat, first_name: 'Lia' }, text };
      const body = { update_id: ++update, [kind]: kind === 'business_message' ? { business_connection_id: 'bc-loja-1', ...m } : m };
      const res = await h.api('POST', `/webhooks/telegram/${tg.id}`, { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': tg.secrets.telegramSecretToken }, body);
      expect(res).toMatchObject({ status: 200, body: { stored: 1 } });
    };
    const sends = () => h.fakes.sent('/tg/bot78:tg-business/sendMessage').filter((r) => r.body.chat_id === String(chat));
    const texts = () => sends().map((r) => String(r.body.text));
    await post('business_message', 'oi');
    await expectEventually(() => expect(texts()).toEqual([expect.stringContaining('Olá! Como podemos ajudar?')]));
    await post('business_message', '2');
    await expectEventually(() => expect(texts()).toContain('Vou te passar para um atendente.'));
    const conv = (await h.ds.query(
      `SELECT c.id FROM chat_ingress.conversations c JOIN chat_ingress.contacts ct ON ct.id = c.contact_id WHERE ct.channel_id = $1 AND ct.contact_key = $2`, [tg.id, String(chat)]))[0] as { id: string };
    expect((await h.api('POST', `/conversations/${conv.id}/assign`, headers, { agentId: 'carla', agentName: 'Carla' })).status).toBe(200);
    expect((await h.api('POST', '/messages', headers, { conversationId: conv.id, message: { kind: 'text', text: 'Em que posso ajudar?' } })).status).toBe(202);
    expect((await h.api('POST', `/conversations/${conv.id}/close`, headers, { reason: 'resolved' })).status).toBe(200);
    await expectEventually(() => expect(texts()).toEqual(expect.arrayContaining(['Olá! Você está falando com Carla.', 'Em que posso ajudar?', 'Atendimento encerrado.'])));
    expect(sends().length).toBeGreaterThanOrEqual(5);
    for (const r of sends()) expect({ text: r.body.text, business_connection_id: r.body.business_connection_id }).toEqual({ text: r.body.text, business_connection_id: 'bc-loja-1' });

    // The same customer then writes to the bot itself: answered in that chat, on the bot's own behalf.
    const before = sends().length;
    await post('message', 'oi de novo');
    await expectEventually(() => expect(sends().length).toBe(before + 1));
    expect(sends().at(-1)!.body).not.toHaveProperty('business_connection_id');
  });

  /** A Telegram channel of the tenant (bot token `token`), and a customer (chat `chat`) who writes to it through the business connection `bc`. */
  const telegramBusiness = async (token: string, chat: number, bc: string) => {
    const tg = (await h.api<{ id: string; secrets: Record<string, string> }>('POST', '/channels', headers, {
      provider: 'telegram', name: 'tg business', botName: 'elo_bot', credentials: { accessToken: token }, settings: { botQueue: 'bot', humanQueue: 'atendimento' },
    })).body;
    const customer = { id: chat, type: 'private', first_name: 'Lia' };
    const post = async (update: Record<string, unknown>, stored: number) => {
      const res = await h.api('POST', `/webhooks/telegram/${tg.id}`, { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': tg.secrets.telegramSecretToken }, { update_id: ++seq, ...update });
      expect(res).toMatchObject({ status: 200, body: { stored } });
      return String(seq);
    };
    const message = (message_id: number, text: string, more: Record<string, unknown> = {}) =>
      ({ business_connection_id: bc, message_id, date: Math.floor(Date.now() / 1000), chat: customer, from: { id: chat, first_name: 'Lia' }, text, ...more });
    const sends = () => h.fakes.sent(`/tg/bot${token}/sendMessage`).filter((r) => r.body.chat_id === String(chat));
    const conversation = async () => ((await h.ds.query(
      `SELECT c.id FROM chat_ingress.conversations c JOIN chat_ingress.contacts ct ON ct.id = c.contact_id WHERE ct.channel_id = $1 AND ct.contact_key = $2`, [tg.id, String(chat)]))[0] as { id: string }).id;
    return { tg, post, message, sends, conversation };
  };

  it('Telegram Business: a customer\'s edited business message (edited_business_message) is stored and published as an edit timed by its edit_date, answers nothing, and keeps their chat on its connection; the business\'s own edit is skipped', async () => {
    const { post, message, sends, conversation } = await telegramBusiness('80:tg-business-edit', 880000901, 'bc-loja-edit');
    await post({ business_message: message(1, 'oi') }, 1);
    await expectEventually(() => expect(sends().map((r) => r.body.text)).toEqual([expect.stringContaining('Olá! Como podemos ajudar?')]));
    // The customer then writes to the bot itself (their chat leaves the connection) and corrects their business message to "1".
    const direct = await post({ message: { ...message(2, 'oi de novo'), business_connection_id: undefined } }, 1);
    const handled = async (providerMessageId: string) => {
      const e = await expectEventually(() => {
        const x = h.probe.ofType<{ providerMessageId: string }>('chat.message.received').find((r) => r.data.providerMessageId === providerMessageId);
        expect(x).toBeDefined();
        return x!;
      });
      await expectEventually(async () => expect(await h.ds.query('SELECT 1 FROM chat_ingress.inbox WHERE event_id = $1', [e.id])).not.toHaveLength(0));
    };
    await handled(direct);
    const outbound = async () => (await h.ds.query(`SELECT count(*)::int AS n FROM chat_ingress.messages WHERE conversation_id = $1 AND direction = 'out'`, [await conversation()]))[0] as { n: number };
    const before = await outbound();
    const editDate = Math.floor(Date.now() / 1000) + 5;
    const edit = await post({ edited_business_message: message(1, '1', { edit_date: editDate }) }, 1);
    const edited = await expectEventually(() => {
      const e = h.probe.ofType<{ providerMessageId: string; conversationId: string; providerTimestamp: string; message: Record<string, unknown> }>('chat.message.received').find((x) => x.data.providerMessageId === edit);
      expect(e?.data.message).toEqual({ kind: 'text', text: '1', edited: true });
      return e!;
    });
    expect(new Date(edited.data.providerTimestamp).getTime()).toBe(editDate * 1000);
    // The flow took it (its inbox row commits with anything it would send) and answered nothing.
    await handled(edit);
    expect(await outbound()).toEqual(before);
    // The business account's own edit (its owner correcting a reply) is an echo.
    await post({ edited_business_message: message(3, 'Olá!', { edit_date: editDate, from: { id: 990000901, first_name: 'Loja' } }) }, 0);
    // The edit came through the connection: an agent's reply goes there.
    expect((await h.api('POST', '/messages', headers, { conversationId: await conversation(), message: { kind: 'text', text: 'Anotado.' } })).status).toBe(202);
    await expectEventually(() => expect(sends().at(-1)?.body).toMatchObject({ text: 'Anotado.', business_connection_id: 'bc-loja-edit' }));
  });

  it('Telegram Business: a button pressed in the bot\'s own chat (its message names no connection) is answered there, though the customer last wrote through the business', async () => {
    const { post, message, sends } = await telegramBusiness('81:tg-business-button', 880000902, 'bc-loja-button');
    await post({ business_message: message(1, 'oi') }, 1);
    await expectEventually(() => expect(sends()).toHaveLength(1));
    expect(sends()[0]!.body.business_connection_id).toBe('bc-loja-button');
    // The menu of an earlier visit in the bot's chat: Telegram sends its message without business_connection_id.
    const menu = { message_id: 7, date: Math.floor(Date.now() / 1000) - 60, chat: { id: 880000902, type: 'private' }, from: { id: 700081, is_bot: true, first_name: 'elo_bot' }, text: 'Olá!' };
    await post({ callback_query: { id: 'q-902', from: { id: 880000902, first_name: 'Lia' }, chat_instance: '1', data: 'humano', message: menu } }, 1);
    await expectEventually(() => expect(sends().map((r) => r.body.text)).toContain('Vou te passar para um atendente.'));
    expect(sends().find((r) => r.body.text === 'Vou te passar para um atendente.')!.body).not.toHaveProperty('business_connection_id');
  });

  it('viability step: asks for the location, requests a check, branches on the outcome', async () => {
    const t2 = await h.tenantKey();
    const ch2 = (await h.api<{ id: string }>('POST', '/channels', t2.headers, { provider: 'whatsapp', name: 'vendas', phoneNumberId: 'PNVIAB', credentials: { accessToken: 't', appSecret: 'viab-secret' } })).body;
    const flow = { start: 'where', steps: {
      where: { type: 'viability', text: 'Envie sua localização 📍', viableText: 'Atendemos seu endereço!', notViableText: 'Ainda não chegamos aí.', onViable: 'sell', onNotViable: 'bye' },
      sell: { type: 'transfer', queue: 'vendas' },
      bye: { type: 'close' },
    } };
    expect((await h.api('PUT', '/flow', t2.headers, flow)).status).toBe(200);
    const say = async (id: string, m: Record<string, unknown>) => {
      const body = { object: 'whatsapp_business_account', entry: [{ id: 'W', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: {}, contacts: [{ wa_id: '5541999990009', profile: { name: 'Zé' } }], messages: [{ from: '5541999990009', id, timestamp: String(Math.floor(Date.now() / 1000)), ...m }] } }] }] };
      expect((await h.postMeta('whatsapp', ch2.id, JSON.stringify(body), 'viab-secret')).status).toBe(200);
    };
    const got = () => h.fakes.sent('/graph/PNVIAB/messages').map((r) => (r.body.text as { body: string } | undefined)?.body);
    /** The chat.message.received published for a message (whether it says the flow awaits a location). */
    const received = (id: string) => expectEventually(() => {
      const e = h.probe.ofType<{ providerMessageId: string; message: { kind: string }; flowAwaitsLocation?: boolean }>('chat.message.received').find((x) => x.tenantid === t2.tenantId && x.data.providerMessageId === id);
      expect(e).toBeDefined();
      return e!.data;
    });
    await say('wamid.V1', { type: 'text', text: { body: 'quero internet' } });
    await expectEventually(() => expect(got()).toEqual(['Envie sua localização 📍']));
    // At the step the saved state says a location shared in the chat now is the flow's; an invalid answer keeps that.
    await expectEventually(async () => expect((await conversationOf('5541999990009')).flow_state).toMatchObject({ stepId: 'where', waiting: 'input', location: true }));
    await say('wamid.V2', { type: 'text', text: { body: 'rua tal' } });
    await expectEventually(() => expect(got()).toEqual(['Envie sua localização 📍', 'Envie sua localização 📍']));
    expect((await conversationOf('5541999990009')).flow_state).toMatchObject({ stepId: 'where', waiting: 'input', location: true });
    expect((await received('wamid.V2')).flowAwaitsLocation).toBeUndefined();
    await say('wamid.V3', { type: 'location', location: { latitude: -25.43, longitude: -49.27 } });
    // Marked for viability's chat-location check to leave: the flow answers this one.
    expect(await received('wamid.V3')).toMatchObject({ message: { kind: 'location' }, flowAwaitsLocation: true });
    const req = await expectEventually(() => {
      const e = h.probe.ofType<{ requestId: string; conversationId: string; location: { lat: number } }>('viability.requested').find((x) => x.tenantid === t2.tenantId);
      expect(e).toBeDefined();
      return e!.data;
    });
    expect(req.location.lat).toBe(-25.43);
    // The check is out (the flow takes no other location now): a second location is not marked.
    expect((await conversationOf('5541999990009')).flow_state.location).toBeUndefined();
    await say('wamid.V4', { type: 'location', location: { latitude: -25.5, longitude: -49.3 } });
    const v4 = await received('wamid.V4');
    expect(v4.message.kind).toBe('location');
    expect(v4.flowAwaitsLocation).toBeUndefined();
    await h.probe.publish(createEvent({ type: 'viability.checked', source: 'elo://viability', tenantId: t2.tenantId, data: { requestId: req.requestId, conversationId: req.conversationId, status: 'viable', via: 'chat_location' } }));
    await expectEventually(() => expect(got().slice(2)).toEqual(['Atendemos seu endereço!', 'Estamos transferindo seu atendimento.', 'Aguarde um momento: em breve um atendente vai falar com você.']));
    await expectEventually(() => expect(h.probe.ofType<{ conversationId: string; toQueue: string }>('chat.conversation.transferred').find((e) => e.data.conversationId === req.conversationId)?.data.toQueue).toBe('vendas'));
    // Out of the bot queue the flow answers nothing, so even a state that says it waits for a location does not mark one.
    await h.ds.query(`UPDATE chat_ingress.conversations SET flow_state = '{"stepId": "where", "waiting": "input", "location": true}' WHERE id = $1`, [req.conversationId]);
    await say('wamid.V5', { type: 'location', location: { latitude: -25.6, longitude: -49.4 } });
    expect((await received('wamid.V5')).flowAwaitsLocation).toBeUndefined();
  });

  it('resumes a conversation where the customer was after a restart', async () => {
    const eva = customer('5541999990005');
    await eva.text('oi');
    await expectEventually(() => expect(eva.got()).toHaveLength(1));
    await eva.text('1');
    await expectEventually(() => expect(eva.got().at(-1)).toBe('Informe seu CPF ou CNPJ'));
    await h.restart();
    await eva.text('12.ABC.345/01DE-35');
    const request = await expectEventually(() => {
      const e = h.probe.ofType<{ context: { cpf?: string }; conversationId: string }>('integration.requested').find((x) => x.data.context.cpf === '12ABC34501DE35');
      expect(e).toBeDefined();
      return e!;
    });
    expect(request.data.conversationId).toBe((await conversationOf('5541999990005')).id);
    // Off the bot queue, the wait this leaves never times out: a tick's counts cover every tenant, and a slow run would
    // otherwise count it in the later tests' timedOut.
    expect((await h.api('POST', `/conversations/${request.data.conversationId}/transfer`, headers, { queue: 'atendimento' })).status).toBe(200);
  });

  it('a transfer that names no queue goes to the channel\'s human queue (API and event); with none known it is a 422 problem', async () => {
    const gil = customer('5541999990011');
    await gil.text('oi');
    await expectEventually(() => expect(gil.got()).toHaveLength(1));
    const conv = await conversationOf('5541999990011');
    expect(conv.queue).toBe('bot');
    const moved = await h.api<{ queue: string }>('POST', `/conversations/${conv.id}/transfer`, headers, {});
    expect(moved).toMatchObject({ status: 200, body: { queue: 'atendimento' } });
    expect((await h.api<{ queue: string }>('POST', `/conversations/${conv.id}/transfer`, headers, { queue: 'bot' })).body.queue).toBe('bot');
    await h.probe.publish(createEvent({ type: 'chat.conversation.transfer.requested', source: 'elo://test', tenantId, data: { conversationId: conv.id } }));
    await expectEventually(async () => expect((await conversationOf('5541999990011')).queue).toBe('atendimento'));
    await expectEventually(() => expect(h.probe.ofType<{ conversationId: string; fromQueue: string; toQueue: string; reason?: string }>('chat.conversation.transferred')
      .find((e) => e.data.conversationId === conv.id && e.data.reason === 'requested')?.data).toMatchObject({ fromQueue: 'bot', toQueue: 'atendimento' }));

    // A channel whose human queue is blank (settings written before the default existed): the caller must name one.
    await h.ds.query(`UPDATE chat_ingress.channels SET settings = settings || '{"humanQueue": ""}' WHERE id = $1`, [channel.id]);
    try {
      const refused = await callApi<{ status: number; detail: string }>(h.url, 'POST', `/conversations/${conv.id}/transfer`, undefined, { queue: '' }, headers);
      expect(refused.status).toBe(400); // an empty queue is bad input, not "no queue"
      const none = await callApi<{ status: number; detail: string }>(h.url, 'POST', `/conversations/${conv.id}/transfer`, undefined, {}, headers);
      expect(none).toMatchObject({ status: 422, body: { status: 422, detail: expect.stringContaining('humanQueue') } });
      expect(none.headers.get('content-type')).toContain('application/problem+json');
      expect((await conversationOf('5541999990011')).queue).toBe('atendimento');
    } finally {
      await h.ds.query(`UPDATE chat_ingress.channels SET settings = settings || '{"humanQueue": "atendimento"}' WHERE id = $1`, [channel.id]);
    }
  });

  it('assigning a conversation still in the bot queue moves it to the human queue and the bot stops answering it', async () => {
    const hugo = customer('5541999990012');
    await hugo.text('oi');
    await expectEventually(() => expect(hugo.got()).toHaveLength(1));
    const conv = await conversationOf('5541999990012');
    expect(conv).toMatchObject({ queue: 'bot', flow_state: { stepId: 'menu', waiting: 'input' } });
    expect((await h.api('PUT', '/queues/atendimento/agents', headers, { agentId: 'carla', agentName: 'Carla' })).status).toBe(200);
    expect(await h.api('POST', `/conversations/${conv.id}/assign`, headers, { agentId: 'zeca' })).toMatchObject({ status: 422, body: { detail: expect.stringContaining('not an agent of queue atendimento') } });

    const assigned = await h.api<{ queue: string; agentId: string }>('POST', `/conversations/${conv.id}/assign`, headers, { agentId: 'carla', agentName: 'Carla' });
    expect(assigned).toMatchObject({ status: 200, body: { queue: 'atendimento', agentId: 'carla' } });
    await expectEventually(() => expect(hugo.got().at(-1)).toBe('Olá! Você está falando com Carla.'));
    await expectEventually(() => expect(h.probe.ofType<{ conversationId: string; fromQueue: string; toQueue: string; reason?: string }>('chat.conversation.transferred')
      .find((e) => e.data.conversationId === conv.id)?.data).toMatchObject({ fromQueue: 'bot', toQueue: 'atendimento', reason: 'assigned' }));

    // The customer answers the menu: the bot leaves it to Carla (run the engine as the consumer does, in a transaction).
    const published: unknown[] = [];
    await h.ds.transaction((m) => h.app.get(FlowEngine).onMessage(m, tenantId, {
      channelId: channel.id, provider: 'whatsapp', conversationId: conv.id, providerMessageId: 'wamid.ASSIGNED.1',
      contact: { phone: '+5541999990012' }, message: { kind: 'text', text: '1' }, providerTimestamp: new Date().toISOString(),
    }, async (...specs) => { published.push(...specs); }));
    expect(published).toEqual([]);
    expect((await conversationOf('5541999990012')).flow_state).toMatchObject({ stepId: 'menu', waiting: 'input' });
  });

  it('an integration outcome that does not come in time takes the failure branch (FLOW_WAIT_TIMEOUT_MS, 3 min by default); the request says when the wait ends', async () => {
    const ivo = customer('5541999990013');
    await ivo.text('oi');
    await expectEventually(() => expect(ivo.got()).toHaveLength(1));
    await ivo.text('1');
    await expectEventually(() => expect(ivo.got().at(-1)).toBe('Informe seu CPF ou CNPJ'));
    // The wait begins while the flow handles the CPF: between these two moments (however slow the run), 3 min from then.
    const asked = Date.now();
    await ivo.text('529.982.247-25');
    await expectEventually(() => expect(ivo.got().at(-1)).toBe('Um momento, buscando seu boleto…'));
    const conv = await expectEventually(async () => {
      const c = await conversationOf('5541999990013');
      expect(c.flow_state).toMatchObject({ stepId: 'boleto', waiting: 'integration' });
      return c;
    });
    const seen = Date.now();
    expect(Date.parse(conv.flow_state.waitUntil)).toBeGreaterThanOrEqual(asked + 180_000);
    expect(Date.parse(conv.flow_state.waitUntil)).toBeLessThanOrEqual(seen + 180_000);
    // The dispatcher does not start the run after it (see the webhook-dispatcher README, Delivery).
    const request = await expectEventually(() => {
      const e = h.probe.ofType<{ conversationId: string; deadline?: string }>('integration.requested').find((x) => x.data.conversationId === conv.id);
      expect(e).toBeDefined();
      return e!;
    });
    expect(request.data.deadline).toBe(conv.flow_state.waitUntil);

    const tick = () => tickFor(h.app, { conversations: [conv.id] });
    expect((await tick()).timedOut).toBe(0);
    await h.ds.query(`UPDATE chat_ingress.conversations SET flow_state = flow_state || jsonb_build_object('waitUntil', (now() - interval '1 second')::text) WHERE id = $1`, [conv.id]);
    await keepFlowDue(h.ds.manager, [conv.id]);
    expect((await tick()).timedOut).toBe(1);
    await expectEventually(() => expect(ivo.got().slice(-4)).toEqual(['Não encontrei seu boleto.', 'Vou te passar para um atendente.', 'Estamos transferindo seu atendimento.', 'Aguarde um momento: em breve um atendente vai falar com você.']));
    expect((await conversationOf('5541999990013')).queue).toBe('atendimento');
    await expectEventually(() => expect(h.probe.ofType<{ conversationId: string; stepId: string; outcome: string; nextStepId?: string }>('chat.flow.step')
      .find((e) => e.data.conversationId === conv.id && e.data.outcome === 'timed_out')?.data).toMatchObject({ stepId: 'boleto', nextStepId: 'to_human' }));
    expect((await tick()).timedOut).toBe(0);
  });

  it('a wait saved before waits had a limit (no waitUntil) gets its whole limit from when the scheduler first sees it, and its outcome still counts', async () => {
    const ida = customer('5541999990015');
    await ida.text('oi');
    await expectEventually(() => expect(ida.got()).toHaveLength(1));
    await ida.text('1');
    await expectEventually(() => expect(ida.got().at(-1)).toBe('Informe seu CPF ou CNPJ'));
    await ida.text('529.982.247-25');
    const conv = await expectEventually(async () => {
      const c = await conversationOf('5541999990015');
      expect(c.flow_state).toMatchObject({ stepId: 'boleto', waiting: 'integration' });
      return c;
    });
    // The shape the previous release saved: waiting for the integration, no waitUntil; begun long ago.
    await h.ds.query(`UPDATE chat_ingress.conversations SET flow_state = flow_state - 'waitUntil', opened_at = opened_at - interval '1 hour' WHERE id = $1`, [conv.id]);
    await keepFlowDue(h.ds.manager, [conv.id]);
    expect((await conversationOf('5541999990015')).flow_state.waitUntil).toBeUndefined();

    const tick = () => tickFor(h.app, { conversations: [conv.id] });
    const seenAt = Date.now();
    expect((await tick()).timedOut).toBe(0);
    const ticked = Date.now();
    const stamped = (await conversationOf('5541999990015')).flow_state;
    expect(stamped).toMatchObject({ stepId: 'boleto', waiting: 'integration', requestId: conv.flow_state.requestId });
    // Its whole limit (3 min) from the tick, however long the tick took.
    expect(Date.parse(stamped.waitUntil)).toBeGreaterThanOrEqual(seenAt + 180_000);
    expect(Date.parse(stamped.waitUntil)).toBeLessThanOrEqual(ticked + 180_000);
    expect((await tick()).timedOut).toBe(0);
    expect((await conversationOf('5541999990015')).flow_state.waitUntil).toBe(stamped.waitUntil);

    await h.probe.publish(createEvent({
      type: 'integration.delivery.succeeded', source: 'elo://webhook-dispatcher', tenantId,
      data: { deliveryId: randomUUID(), integrationId: randomUUID(), integrationName: 'billing', eventId: randomUUID(), eventType: 'integration.requested', requestId: conv.flow_state.requestId, conversationId: conv.id, outcome: 'succeeded', httpStatus: 200, attempts: 1, reply: 'https://erp.example.com/boletos/777.pdf' },
    }));
    await expectEventually(() => expect(ida.got().slice(-2)).toEqual(['Aqui está seu boleto: https://erp.example.com/boletos/777.pdf', 'Obrigado pelo contato!']));
    expect(ida.got()).not.toContain('Não encontrei seu boleto.');
  });

  it('viability with FindME: a location shared in the chat while the link is out is checked instead', async () => {
    const t4 = await h.tenantKey();
    const ch4 = (await h.api<{ id: string }>('POST', '/channels', t4.headers, { provider: 'whatsapp', name: 'findme', phoneNumberId: 'PNFIND', credentials: { accessToken: 't', appSecret: 'find-secret' } })).body;
    const flow = { start: 'where', steps: {
      where: { type: 'viability', text: 'Use o link para marcar seu endereço, ou envie sua localização', findme: true, viableText: 'Atendemos seu endereço!', onViable: 'bye', onNotViable: 'bye' },
      bye: { type: 'close' },
    } };
    expect((await h.api('PUT', '/flow', t4.headers, flow)).status).toBe(200);
    const say = async (id: string, m: Record<string, unknown>) => {
      const body = { object: 'whatsapp_business_account', entry: [{ id: 'W', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: {}, contacts: [{ wa_id: '5541999990014', profile: { name: 'Rui' } }], messages: [{ from: '5541999990014', id, timestamp: String(Math.floor(Date.now() / 1000)), ...m }] } }] }] };
      expect((await h.postMeta('whatsapp', ch4.id, JSON.stringify(body), 'find-secret')).status).toBe(200);
    };
    const requests = () => h.probe.ofType<{ requestId: string; conversationId: string; findme?: boolean; location?: { lat: number } }>('viability.requested').filter((x) => x.tenantid === t4.tenantId);
    await say('wamid.F1', { type: 'text', text: { body: 'tem fibra aqui?' } });
    await expectEventually(() => expect(requests().map((r) => r.data.findme)).toEqual([true]));
    // The link lives 30 min (viability's FINDME_TTL_MINUTES): its answer is waited for 35 min
    // (FLOW_FINDME_WAIT_TIMEOUT_MS), not the 3 min of other outcomes, and the scheduler leaves it be.
    const stateOf = async () => (await conversationOf('5541999990014')).flow_state as { waiting?: string; findme?: boolean; waitUntil: string; requestId: string };
    const linkOut = await expectEventually(async () => {
      const st = await stateOf();
      expect(st).toMatchObject({ waiting: 'viability', findme: true, requestId: requests()[0].data.requestId });
      return st;
    });
    const linkLeft = Date.parse(linkOut.waitUntil) - Date.now();
    expect(linkLeft).toBeGreaterThan(34 * 60_000);
    expect(linkLeft).toBeLessThanOrEqual(35 * 60_000);
    await h.app.get(FlowScheduler).tick();
    expect(await stateOf()).toMatchObject({ waiting: 'viability', findme: true, requestId: linkOut.requestId });
    // The same wait as the previous release saved it (no waitUntil): it gets the link's whole wait from now.
    await h.ds.query(`UPDATE chat_ingress.conversations SET flow_state = flow_state - 'waitUntil' WHERE flow_state->>'requestId' = $1`, [linkOut.requestId]);
    await keepFlowDue(h.ds.manager, [(await conversationOf('5541999990014')).id]);
    const seenAt = Date.now();
    await h.app.get(FlowScheduler).tick();
    const ticked = Date.now();
    const restamped = await stateOf();
    expect(restamped).toMatchObject({ waiting: 'viability', findme: true, requestId: linkOut.requestId });
    expect(Date.parse(restamped.waitUntil)).toBeGreaterThanOrEqual(seenAt + 35 * 60_000);
    expect(Date.parse(restamped.waitUntil)).toBeLessThanOrEqual(ticked + 35 * 60_000);
    const shared = Date.now();
    await say('wamid.F2', { type: 'location', location: { latitude: -25.44, longitude: -49.28 } });
    const byLocation = await expectEventually(() => {
      expect(requests()).toHaveLength(2);
      return requests()[1].data;
    });
    // While the link is out a shared location is the flow's: marked for viability's chat-location check to leave.
    expect(h.probe.ofType<{ providerMessageId: string; flowAwaitsLocation?: boolean }>('chat.message.received').find((e) => e.tenantid === t4.tenantId && e.data.providerMessageId === 'wamid.F2')?.data.flowAwaitsLocation).toBe(true);
    expect(byLocation.location?.lat).toBe(-25.44);
    // A location sent in the chat is checked at once: the usual wait (FLOW_WAIT_TIMEOUT_MS, 3 min), from when the flow took it.
    const byLocationUntil = Date.parse((await expectEventually(async () => {
      const st = await stateOf();
      expect(st).toMatchObject({ waiting: 'viability', requestId: byLocation.requestId });
      expect(st.findme).toBeUndefined();
      return st;
    })).waitUntil);
    expect(byLocationUntil).toBeGreaterThanOrEqual(shared + 180_000);
    expect(byLocationUntil).toBeLessThanOrEqual(Date.now() + 180_000);
    await h.probe.publish(createEvent({ type: 'viability.checked', source: 'elo://viability', tenantId: t4.tenantId, data: { requestId: byLocation.requestId, conversationId: byLocation.conversationId, status: 'viable', via: 'chat_location' } }));
    await expectEventually(() => expect(h.fakes.sent('/graph/PNFIND/messages').map((r) => (r.body.text as { body: string } | undefined)?.body)).toContain('Atendemos seu endereço!'));
    await expectEventually(() => expect(h.probe.ofType<{ conversationId: string }>('chat.conversation.closed').some((e) => e.data.conversationId === byLocation.conversationId)).toBe(true));
  });

  it('conversations keep the flow version they started with; a silent customer gets a reminder, then the conversation closes', async () => {
    const caio = customer('5541999990003');
    await caio.text('oi');
    await expectEventually(() => expect(caio.got()).toHaveLength(1));
    const v2 = { start: 'hello', steps: { hello: { type: 'menu', text: 'Versão 2', options: [{ id: 'x', title: 'Sair', next: 'bye' }] }, bye: { type: 'close' } } };
    expect((await h.api<{ version: number }>('PUT', '/flow', headers, v2)).body.version).toBe(2);
    const broken = await h.api<{ errors: Array<{ field?: string }> }>('PUT', '/flow', headers, { start: 'nope', steps: { a: { type: 'menu' } } });
    expect(broken.status).toBe(400);
    expect(broken.body.errors.map((e) => e.field)).toEqual(['start', 'steps.a.text', 'steps.a.options']);
    await caio.text('1');
    await expectEventually(() => expect(caio.got().at(-1)).toBe('Informe seu CPF ou CNPJ'));
    const conv = await conversationOf('5541999990003');
    expect(conv).toMatchObject({ flow_version: 1, flow_state: { stepId: 'ask_cpf', waiting: 'input' } });

    const dani = customer('5541999990004');
    await dani.text('oi');
    await expectEventually(() => expect(dani.got()).toEqual([expect.stringContaining('Versão 2')]));

    const tick = () => tickFor(h.app, { conversations: [conv.id] });
    await h.ds.query(`UPDATE chat_ingress.messages SET created_at = created_at - interval '11 minutes' WHERE conversation_id = $1 AND direction = 'in'`, [conv.id]);
    await keepFlowDue(h.ds.manager, [conv.id]);
    expect((await tick()).reminded).toBe(1);
    await expectEventually(() => expect(caio.got().at(-1)).toBe('Ainda está aí?'));
    expect((await tick()).reminded).toBe(0);
    await h.ds.query(`UPDATE chat_ingress.conversations SET reminder_sent_at = now() - interval '11 minutes' WHERE id = $1`, [conv.id]);
    await keepFlowDue(h.ds.manager, [conv.id]);
    expect((await tick()).closed).toBe(1);
    await expectEventually(() => expect(h.probe.ofType<{ conversationId: string; reason: string }>('chat.conversation.closed').find((e) => e.data.conversationId === conv.id)?.data.reason).toBe('inactivity'));
  });

  it('one tick reminds a customer gone silent and closes a reminded one still silent, each its own way', async () => {
    const rita = customer('5541999990021');
    const saulo = customer('5541999990022');
    await rita.text('oi');
    await saulo.text('oi');
    await expectEventually(() => expect([rita.got().length, saulo.got().length]).toEqual([1, 1]));
    const ritaConv = await conversationOf('5541999990021');
    const sauloConv = await conversationOf('5541999990022');
    const tick = () => tickFor(h.app, { conversations: [ritaConv.id, sauloConv.id] });

    // Saulo went silent first and got his reminder.
    await h.ds.query(`UPDATE chat_ingress.messages SET created_at = created_at - interval '30 minutes' WHERE conversation_id = $1 AND direction = 'in'`, [sauloConv.id]);
    await keepFlowDue(h.ds.manager, [sauloConv.id]);
    expect(await tick()).toMatchObject({ reminded: 1, closed: 0 });
    await expectEventually(() => expect(saulo.got().at(-1)).toBe('Ainda está aí?'));
    // Later, in one tick: Rita is due her reminder and Saulo, silent since his, is due to close.
    await h.ds.query(`UPDATE chat_ingress.conversations SET reminder_sent_at = now() - interval '11 minutes' WHERE id = $1`, [sauloConv.id]);
    await h.ds.query(`UPDATE chat_ingress.messages SET created_at = created_at - interval '11 minutes' WHERE conversation_id = $1 AND direction = 'in'`, [ritaConv.id]);
    await keepFlowDue(h.ds.manager, [sauloConv.id, ritaConv.id]);
    expect(await tick()).toMatchObject({ reminded: 1, closed: 1 });

    const [rita2, saulo2] = await Promise.all([conversationOf('5541999990021'), conversationOf('5541999990022')]);
    expect(rita2).toMatchObject({ id: ritaConv.id, status: 'open', close_reason: null });
    expect(rita2.reminder_sent_at).not.toBeNull();
    expect(saulo2).toMatchObject({ id: sauloConv.id, status: 'closed', close_reason: 'inactivity' });
    await expectEventually(() => expect(rita.got().slice(1)).toEqual(['Ainda está aí?']));
    await expectEventually(() => expect(saulo.got().slice(1)).toEqual(['Ainda está aí?', 'Atendimento encerrado.']));
    await expectEventually(() => expect(h.probe.ofType<{ conversationId: string; reason: string }>('chat.conversation.closed').find((e) => e.data.conversationId === sauloConv.id)?.data.reason).toBe('inactivity'));
    await h.settled();
    expect(h.probe.ofType<{ conversationId: string }>('chat.conversation.closed').filter((e) => e.data.conversationId === ritaConv.id)).toEqual([]);
    // Rita's reminder is fresh: nothing more is due.
    expect(await tick()).toMatchObject({ reminded: 0, closed: 0 });
  });

  it('a silent conversation on a disabled channel does not stop the tick: the other tenants\' customers are still reminded and closed', async () => {
    // A tenant whose channel was disabled while a bot conversation sat silent (nothing may go out on it).
    const off = await h.tenantKey();
    const offCh = (await h.api<{ id: string }>('POST', '/channels', off.headers, {
      provider: 'whatsapp', name: 'desligado', phoneNumberId: 'PNOFF', credentials: { accessToken: 't', appSecret: 'off-secret' },
      settings: { closingMessage: 'Encerrado.' },
    })).body;
    expect((await h.api('PUT', '/flow', off.headers, { start: 'menu', steps: { menu: { type: 'menu', text: 'Oi', options: [{ id: 'x', title: 'Sair', next: 'bye' }] }, bye: { type: 'close' } } })).status).toBe(200);
    const offBody = { object: 'whatsapp_business_account', entry: [{ id: 'W', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: {},
      contacts: [{ wa_id: '5541999990031', profile: { name: 'Off' } }], messages: [{ from: '5541999990031', id: 'wamid.OFF.1', timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: 'oi' } }] } }] }] };
    expect((await h.postMeta('whatsapp', offCh.id, JSON.stringify(offBody), 'off-secret')).status).toBe(200);
    await expectEventually(() => expect(h.fakes.sent('/graph/PNOFF/messages')).toHaveLength(1));
    const offConv = await expectEventually(async () => {
      const c = await conversationOf('5541999990031');
      expect(c?.flow_state).toMatchObject({ stepId: 'menu', waiting: 'input' });
      return c;
    });
    expect((await h.api('POST', `/channels/${offCh.id}/disable`, off.headers)).status).toBe(200);
    await h.ds.query(`UPDATE chat_ingress.messages SET created_at = created_at - interval '30 minutes' WHERE conversation_id = $1 AND direction = 'in'`, [offConv.id]);
    await keepFlowDue(h.ds.manager, [offConv.id]);

    // A customer of the first tenant, silent too, on a channel that works.
    const tom = customer('5541999990032');
    await tom.text('oi');
    await expectEventually(() => expect(tom.got()).toHaveLength(1));
    const tomConv = await conversationOf('5541999990032');
    await h.ds.query(`UPDATE chat_ingress.messages SET created_at = created_at - interval '30 minutes' WHERE conversation_id = $1 AND direction = 'in'`, [tomConv.id]);
    await keepFlowDue(h.ds.manager, [tomConv.id]);

    const scheduler = h.app.get(FlowScheduler);
    await scheduler.tick();
    expect((await conversationOf('5541999990032')).reminder_sent_at).not.toBeNull();
    await expectEventually(() => expect(tom.got().at(-1)).toBe('Ainda está aí?'));
    // The disabled channel's conversation waits, untouched, and nothing is queued for it.
    expect(await conversationOf('5541999990031')).toMatchObject({ status: 'open', reminder_sent_at: null });
    expect(await h.ds.query(`SELECT id FROM chat_ingress.messages WHERE conversation_id = $1 AND direction = 'out' AND status = 'queued'`, [offConv.id])).toEqual([]);

    // Reminded and silent since, on a channel that is then disabled: the close is left for when it is enabled again.
    await h.ds.query(`UPDATE chat_ingress.conversations SET reminder_sent_at = now() - interval '11 minutes' WHERE id = $1`, [offConv.id]);
    await h.ds.query(`UPDATE chat_ingress.conversations SET reminder_sent_at = now() - interval '11 minutes' WHERE id = $1`, [tomConv.id]);
    await keepFlowDue(h.ds.manager, [offConv.id, tomConv.id]);
    await scheduler.tick();
    expect(await conversationOf('5541999990032')).toMatchObject({ status: 'closed', close_reason: 'inactivity' });
    expect((await conversationOf('5541999990031')).status).toBe('open');

    // An agent's move that would send a notice on the disabled channel is refused as such (not a 500), and changes nothing.
    for (const [path, body] of [['close', {}], ['assign', { agentId: 'ana' }], ['transfer', { queue: 'vendas' }]] as const) {
      const refused = await callApi<{ status: number; reason: string }>(h.url, 'POST', `/conversations/${offConv.id}/${path}`, undefined, body, off.headers);
      expect({ path, status: refused.status, reason: refused.body.reason }).toEqual({ path, status: 409, reason: 'channel_disabled' });
      expect(refused.headers.get('content-type')).toContain('application/problem+json');
    }
    expect(await conversationOf('5541999990031')).toMatchObject({ status: 'open', queue: 'bot', agent_id: null });
  });

  it('an integration step\'s lastMessage is the customer\'s latest message, also when several came in one webhook', async () => {
    const t = await h.tenantKey();
    const ch = (await h.api<{ id: string }>('POST', '/channels', t.headers, {
      provider: 'whatsapp', name: 'ultima', phoneNumberId: 'PNLAST', credentials: { accessToken: 't', appSecret: 'last-secret' }, settings: { botQueue: 'bot', humanQueue: 'atendimento' },
    })).body;
    expect((await h.api('PUT', '/flow', t.headers, FLOW)).status).toBe(200);
    const phone = '5541999990051';
    const say = async (...messages: Array<{ id: string; ts: number; text: string }>) => {
      const body = { object: 'whatsapp_business_account', entry: [{ id: 'W', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { phone_number_id: 'PNLAST' },
        contacts: [{ wa_id: phone, profile: { name: 'Lia' } }], messages: messages.map((m) => ({ from: phone, id: m.id, timestamp: String(m.ts), type: 'text', text: { body: m.text } })) } }] }] };
      expect((await h.postMeta('whatsapp', ch.id, JSON.stringify(body), 'last-secret')).status).toBe(200);
    };
    const got = () => h.fakes.sent('/graph/PNLAST/messages').map((r) => {
      const b = r.body as { text?: { body: string }; interactive?: { body: { text: string } } };
      return b.text?.body ?? b.interactive?.body.text;
    });
    const now = Math.floor(Date.now() / 1000);
    await say({ id: 'wamid.LAST.1', ts: now - 10, text: 'oi' });
    await expectEventually(() => expect(got()).toHaveLength(1));
    await say({ id: 'wamid.LAST.2', ts: now - 5, text: '1' });
    await expectEventually(() => expect(got().at(-1)).toBe('Informe seu CPF ou CNPJ'));
    // Two answers in one webhook (stored by one statement: one created_at): a wrong one, then the CPF a second later.
    await say({ id: 'wamid.LAST.b', ts: now, text: 'não sei' }, { id: 'wamid.LAST.a', ts: now + 1, text: '529.982.247-25' });
    const request = await expectEventually(() => {
      const e = h.probe.ofType<{ channelId: string; context: { lastMessage: { text?: string } | null } }>('integration.requested').find((x) => x.data.channelId === ch.id);
      expect(e).toBeDefined();
      return e!.data;
    });
    expect(request.context.lastMessage).toEqual({ kind: 'text', text: '529.982.247-25' });
  });

  it('bus events for a conversation on a disabled channel (transfer requested, integration outcome) are handled once and skipped, not retried until parked', async () => {
    const t = await h.tenantKey();
    const ch = (await h.api<{ id: string }>('POST', '/channels', t.headers, {
      provider: 'whatsapp', name: 'desligado 2', phoneNumberId: 'PNOFF2', credentials: { accessToken: 't', appSecret: 'off2-secret' }, settings: { botQueue: 'bot', humanQueue: 'atendimento' },
    })).body;
    expect((await h.api('PUT', '/flow', t.headers, { start: 'boleto', steps: {
      boleto: { type: 'integration', integration: 'billing', successText: 'Seu boleto: {reply}', onSuccess: 'bye', onFailure: 'bye' }, bye: { type: 'close', text: 'Tchau' } } })).status).toBe(200);
    const body = { object: 'whatsapp_business_account', entry: [{ id: 'W', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: {},
      contacts: [{ wa_id: '5541999990061', profile: { name: 'Off2' } }], messages: [{ from: '5541999990061', id: 'wamid.OFF2.1', timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: 'oi' } }] } }] }] };
    expect((await h.postMeta('whatsapp', ch.id, JSON.stringify(body), 'off2-secret')).status).toBe(200);
    const request = await expectEventually(() => {
      const e = h.probe.ofType<{ requestId: string; conversationId: string; channelId: string }>('integration.requested').find((x) => x.data.channelId === ch.id);
      expect(e).toBeDefined();
      return e!.data;
    });
    await expectEventually(async () => expect((await conversationOf('5541999990061')).flow_state).toMatchObject({ waiting: 'integration', requestId: request.requestId }));
    expect((await h.api('POST', `/channels/${ch.id}/disable`, t.headers)).status).toBe(200);

    const outcome = createEvent({ type: 'integration.delivery.succeeded', source: 'elo://webhook-dispatcher', tenantId: t.tenantId,
      data: { deliveryId: randomUUID(), integrationId: randomUUID(), integrationName: 'billing', eventId: randomUUID(), eventType: 'integration.requested', requestId: request.requestId, conversationId: request.conversationId, outcome: 'succeeded', httpStatus: 200, attempts: 1, reply: 'https://erp.example.com/b.pdf' } });
    const transfer = createEvent({ type: 'chat.conversation.transfer.requested', source: 'elo://test', tenantId: t.tenantId, data: { conversationId: request.conversationId, toQueue: 'vendas' } });
    await h.probe.publish(outcome);
    await h.probe.publish(transfer);
    // Handled (the inbox has them) at the first delivery, not sent to the retry queues (1 s, 10 s, …) and then parked.
    await expectEventually(async () => {
      const rows: Array<{ event_id: string }> = await h.ds.query('SELECT event_id FROM chat_ingress.inbox WHERE event_id = ANY($1::text[])', [[outcome.id, transfer.id]]);
      expect(rows.map((r) => r.event_id).sort()).toEqual([outcome.id, transfer.id].sort());
    });
    // Nothing changed or queued on the disabled channel: the wait is left to its timeout once the channel is enabled again.
    expect(await conversationOf('5541999990061')).toMatchObject({ status: 'open', queue: 'bot', flow_state: { waiting: 'integration', requestId: request.requestId } });
    expect(await h.ds.query(`SELECT id FROM chat_ingress.messages WHERE conversation_id = $1 AND direction = 'out' AND status = 'queued'`, [request.conversationId])).toEqual([]);
  });

  it('contact attributes and name with U+0000 or a lone surrogate are stored with U+FFFD in their place (PostgreSQL refuses them), not a 500', async () => {
    const una = customer('5541999990041');
    await una.text('oi');
    await expectEventually(() => expect(una.got()).toHaveLength(1));
    const conv = await conversationOf('5541999990041');
    const res = await h.api<{ name: string; attributes: Record<string, string> }>('PATCH', `/contacts/${conv.contact_id}`, headers, { name: 'Una\u0000', attributes: { nota: 'a\u0000b', ['c\u0000']: '\ud800' } });
    expect(res).toMatchObject({ status: 200, body: { name: 'Una\uFFFD', attributes: { nota: 'a\uFFFDb', ['c\uFFFD']: '\uFFFD' } } });
  });

  it('a tick reminds at most 200 silent customers (the longest silent first; the next tick the rest), and a backlog of reminders does not hold back closes', async () => {
    const t = await h.tenantKey();
    const ch = (await h.api<{ id: string }>('POST', '/channels', t.headers, {
      provider: 'whatsapp', name: 'lote', phoneNumberId: 'PNBULK', credentials: { accessToken: 't', appSecret: 'bulk-secret' },
      settings: { botQueue: 'bot', closingMessage: 'Encerrado por inatividade.', reminderMessage: 'Ainda por aí?' },
    })).body;
    const flow = await h.api<{ id: string; version: number }>('PUT', '/flow', t.headers, { start: 'menu', steps: { menu: { type: 'menu', text: 'Oi', options: [{ id: 'x', title: 'Sair', next: 'bye' }] }, bye: { type: 'close' } } });
    expect(flow.body.version).toBe(1);
    /** `count` open bot conversations of customers silent for an hour and more (the i-th i seconds longer); their ids, longest silent first. */
    const seed = async (first: number, count: number): Promise<string[]> => {
      await h.ds.query(
        `WITH n AS (SELECT i, gen_random_uuid() AS contact_id, gen_random_uuid() AS conv_id, '+55419800' || lpad((i + $4::int)::text, 5, '0') AS phone,
                           now() - interval '1 hour' - i * interval '1 second' AS last_in
                      FROM generate_series(1, $5::int) i),
              ct AS (INSERT INTO chat_ingress.contacts (id, tenant_id, channel_id, contact_key, phone, name)
                     SELECT contact_id, $1, $2, phone, phone, 'Cliente ' || i FROM n),
              cv AS (INSERT INTO chat_ingress.conversations (id, tenant_id, channel_id, contact_id, queue, flow_id, flow_version, flow_state, last_inbound_at, opened_at)
                     SELECT conv_id, $1, $2, contact_id, 'bot', $3, 1, '{"stepId": "menu", "waiting": "input"}', last_in, last_in FROM n)
         INSERT INTO chat_ingress.messages (id, tenant_id, channel_id, conversation_id, contact_id, direction, kind, status, body, created_at)
         SELECT gen_random_uuid(), $1, $2, conv_id, contact_id, 'in', 'text', 'received', '{"message": {"kind": "text", "text": "oi"}}', last_in FROM n`,
        [t.tenantId, ch.id, flow.body.id, first, count],
      );
      const rows: Array<{ id: string }> = await h.ds.query(
        `SELECT c.id FROM chat_ingress.conversations c JOIN chat_ingress.contacts ct ON ct.id = c.contact_id
          WHERE c.tenant_id = $1 AND ct.phone BETWEEN $2 AND $3 ORDER BY c.last_inbound_at, c.id`,
        [t.tenantId, `+55419800${String(first + 1).padStart(5, '0')}`, `+55419800${String(first + count).padStart(5, '0')}`],
      );
      expect(rows).toHaveLength(count);
      await keepFlowDue(h.ds.manager, rows.map((r) => r.id));
      return rows.map((r) => r.id);
    };
    const silent = await seed(0, 250);
    // One reminded long ago and silent since: due to close.
    const [closing] = await seed(1000, 1);
    await h.ds.query(`UPDATE chat_ingress.conversations SET reminder_sent_at = now() - interval '11 minutes' WHERE id = $1`, [closing]);
    await keepFlowDue(h.ds.manager, [closing]);

    const reminded = async () => (await h.ds.query(
      `SELECT id FROM chat_ingress.conversations WHERE tenant_id = $1 AND id <> $2 AND reminder_sent_at IS NOT NULL`, [t.tenantId, closing],
    ) as Array<{ id: string }>).map((r) => r.id).sort();
    /** Reminders written out, one row per message. */
    const reminders = async () => (await h.ds.query(
      `SELECT conversation_id FROM chat_ingress.messages WHERE tenant_id = $1 AND direction = 'out' AND body->'message'->>'text' = 'Ainda por aí?'`, [t.tenantId],
    ) as Array<{ conversation_id: string }>).map((r) => r.conversation_id).sort();

    const tick = () => tickFor(h.app, { tenantId: t.tenantId });
    expect(await tick()).toMatchObject({ reminded: 200, closed: 1 });
    expect(await reminded()).toEqual(silent.slice(0, 200).sort());
    expect(await reminders()).toEqual(silent.slice(0, 200).sort());
    const [closed] = await h.ds.query(`SELECT status, close_reason FROM chat_ingress.conversations WHERE id = $1`, [closing]);
    expect(closed).toEqual({ status: 'closed', close_reason: 'inactivity' });
    const farewell = await h.ds.query(`SELECT body->'message'->>'text' AS text FROM chat_ingress.messages WHERE conversation_id = $1 AND direction = 'out'`, [closing]);
    expect(farewell).toEqual([{ text: 'Encerrado por inatividade.' }]);
    await expectEventually(() => expect(h.probe.ofType<{ conversationId: string; reason: string }>('chat.conversation.closed').find((e) => e.data.conversationId === closing)?.data.reason).toBe('inactivity'));

    expect(await tick()).toMatchObject({ reminded: 50, closed: 0 });
    expect(await reminded()).toEqual([...silent].sort());
    expect(await reminders()).toEqual([...silent].sort());
    expect(await tick()).toMatchObject({ reminded: 0, closed: 0 });
  });
});
