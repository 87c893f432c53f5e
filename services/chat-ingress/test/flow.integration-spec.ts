import { randomUUID } from 'node:crypto';
import { createEvent } from '@elo/contracts';
import { expectEventually } from '@elo/testing';
import { FlowScheduler } from '../src/flow/flow-scheduler.service';
import { keepFlowDue } from '../src/flow/flow-due';
import { startHarness, tickFor, type Harness } from './support/harness';

/**
 * Bot flows each on a tenant and WhatsApp channel of their own (the scheduler's timers run by hand). A test that moves a
 * conversation's stored times back (time passing) gives it the due time the service would (keepFlowDue): the tick reads
 * only conversations whose due time has come.
 */
describe('chat-ingress: bot flow steps and timers', () => {
  let h: Harness;
  let seq = 0;

  beforeAll(async () => {
    h = await startHarness('chat_ingress_bot_flow', { CHAT_WORKERS: 'on', FLOW_TICK_MS: '3600000' });
  });

  afterAll(async () => {
    await h?.close();
  });

  /** A tenant with a WhatsApp channel running `flow`, and one customer of it. */
  const tenantWith = async (flow: unknown, settings: Record<string, unknown> = {}) => {
    const n = ++seq;
    const pn = `PNBOT${n}`;
    const phone = `55419988800${String(n).padStart(2, '0')}`;
    const t = await h.tenantKey();
    const channel = (await h.api<{ id: string }>('POST', '/channels', t.headers, {
      provider: 'whatsapp', name: `bot ${n}`, phoneNumberId: pn, credentials: { accessToken: 'tok', appSecret: 'bot-secret' }, settings,
    })).body;
    expect((await h.api('PUT', '/flow', t.headers, flow)).status).toBe(200);
    const say = async (m: Record<string, unknown>, headers?: Record<string, string>) => {
      const body = { object: 'whatsapp_business_account', entry: [{ id: 'W', changes: [{ field: 'messages', value: {
        messaging_product: 'whatsapp', metadata: { phone_number_id: pn }, contacts: [{ wa_id: phone, profile: { name: 'Cliente' } }],
        messages: [{ from: phone, id: `wamid.BOT.${n}.${++seq}`, timestamp: String(Math.floor(Date.now() / 1000)), ...m }] } }] }] };
      expect((await h.postMeta('whatsapp', channel.id, JSON.stringify(body), 'bot-secret', headers)).status).toBe(200);
    };
    const conversation = async () => (await h.ds.query(
      `SELECT c.* FROM chat_ingress.conversations c JOIN chat_ingress.contacts ct ON ct.id = c.contact_id WHERE ct.phone = $1 ORDER BY c.opened_at DESC LIMIT 1`, [`+${phone}`]))[0];
    return {
      ...t, channel, phone, say, conversation,
      /** The one message the customer has been sent, once it is there. */
      onlyRequest: () => expectEventually(() => {
        const sent = h.fakes.sent(`/graph/${pn}/messages`);
        expect(sent).toHaveLength(1);
        return sent[0]!.body as { type: string; text?: { body: string } };
      }),
      text: (body: string) => say({ type: 'text', text: { body } }),
      /** What the fake WhatsApp API got for this customer, as text. */
      got: () => h.fakes.sent(`/graph/${pn}/messages`).map((r) => {
        const b = r.body as { text?: { body: string }; interactive?: { body: { text: string } } };
        return b.text?.body ?? b.interactive?.body.text ?? '';
      }),
    };
  };

  /** The dispatcher's outcome of the run the flow requested (simulated). */
  const outcome = async (c: { tenantId: string; channel: { id: string } }, outcome: 'succeeded' | 'failed', reply?: string) => {
    const request = await expectEventually(() => {
      const e = h.probe.ofType<{ requestId: string; conversationId: string; channelId: string }>('integration.requested').filter((x) => x.data.channelId === c.channel.id).at(-1);
      expect(e).toBeDefined();
      return e!;
    });
    await h.probe.publish(createEvent({
      type: `integration.delivery.${outcome}`, source: 'elo://webhook-dispatcher', tenantId: c.tenantId,
      data: { deliveryId: randomUUID(), integrationId: randomUUID(), integrationName: 'billing', eventId: request.id, eventType: 'integration.requested', requestId: request.data.requestId, conversationId: request.data.conversationId, outcome, attempts: 1, ...(reply ? { reply } : {}) },
    }));
  };

  it('an integration\'s failure reply reaches the customer as its success reply does (the step\'s text, or the outcome\'s reply)', async () => {
    const flow = (texts: Record<string, string>) => ({ start: 'billing', steps: {
      billing: { type: 'integration', integration: 'billing', ...texts, onSuccess: 'bye', onFailure: 'bye' },
      bye: { type: 'close', text: 'Até logo!' },
    } });
    // No texts on the step: the integration's own reply templates answer.
    const plain = await tenantWith(flow({}));
    await plain.text('meu boleto');
    await outcome(plain, 'failed', 'Sistema indisponível, tente mais tarde.');
    await expectEventually(() => expect(plain.got()).toEqual(['Sistema indisponível, tente mais tarde.', 'Até logo!']));
    // The step's texts, with the reply in them.
    const framed = await tenantWith(flow({ successText: 'Seu boleto: {reply}', failureText: 'Não deu: {reply}' }));
    await framed.text('meu boleto');
    await outcome(framed, 'failed', 'CPF sem débitos.');
    await expectEventually(() => expect(framed.got()).toEqual(['Não deu: CPF sem débitos.', 'Até logo!']));
  });

  /**
   * A question step of each answer kind, then an integration step: what the stored answer is for (its
   * `integration.requested` context, which the dispatcher's templates read). `invalid` are answers the step refuses (a
   * text, or a WhatsApp message of another type), each answered with `invalidText` (none: "Resposta inválida." and the
   * question); `valid` is taken and stored normalised, as `stored`.
   */
  const QUESTIONS: Array<{ validate: string; text: string; invalidText?: string; invalid: Array<string | Record<string, unknown>>; valid: string; stored: string }> = [
    { validate: 'email', text: 'Seu e-mail?', invalidText: 'E-mail inválido, digite de novo.', invalid: ['ana.maria', 'ana@gmail.com.'], valid: ' Ana.Maria@Provedor.COM.br ', stored: 'ana.maria@provedor.com.br' },
    // Check digits, not the shape: one digit off is refused, and so is a valid CNPJ at a CPF step (and the other way round).
    { validate: 'cpf', text: 'Seu CPF?', invalidText: 'CPF inválido.', invalid: ['529.982.247-24', '111.111.111-11', '11.222.333/0001-81'], valid: '529.982.247-25', stored: '52998224725' },
    { validate: 'cnpj', text: 'Seu CNPJ?', invalidText: 'CNPJ inválido.', invalid: ['11.222.333/0001-82', '529.982.247-25'], valid: '11.222.333/0001-81', stored: '11222333000181' },
    // Either; the alphanumeric CNPJ (issued from July 2026) too, typed in lower case.
    { validate: 'cpf_cnpj', text: 'Seu CPF ou CNPJ?', invalidText: 'Documento inválido.', invalid: ['529.982.247-24', '12.ABC.345/01DE-36'], valid: '12.abc.345/01de-35', stored: '12ABC34501DE35' },
    // Brazilian unless it says otherwise, stored in E.164; an old eight-digit mobile gets its ninth digit. Enough digits
    // are no phone: a CPF typed here (area code 52 does not exist) and a number no line has (none starts with 1) are refused.
    { validate: 'phone', text: 'Seu telefone?', invalidText: 'Telefone inválido.', invalid: ['(41) 8844-55', 'não tenho', '529.982.247-25', '(11) 1234-5678'], valid: '(41) 8844-5566', stored: '+5541988445566' },
    // A real calendar day, stored as yyyy-mm-dd.
    { validate: 'date', text: 'Data de nascimento?', invalidText: 'Data inválida.', invalid: ['30/02/2025', 'ontem'], valid: '31/12/1990', stored: '1990-12-31' },
    { validate: 'text', text: 'Seu endereço?', invalid: ['   ', { type: 'location', location: { latitude: -25.43, longitude: -49.27 } }], valid: '  Rua das Flores, 123  ', stored: 'Rua das Flores, 123' },
  ];

  it.each(QUESTIONS)('a question validating $validate re-asks on an invalid answer (the flow stays, nothing stored) and stores a valid one normalised, which the next step uses', async (q) => {
    const c = await tenantWith({ start: 'ask', steps: {
      ask: { type: 'question', text: q.text, validate: q.validate, attribute: 'answer', ...(q.invalidText ? { invalidText: q.invalidText } : {}), next: 'use' },
      use: { type: 'integration', integration: 'billing', successText: 'Obrigado!', onSuccess: 'bye', onFailure: 'bye' },
      bye: { type: 'close' },
    } });
    const reasked = q.invalidText ?? `Resposta inválida. ${q.text}`;
    await c.text('oi');
    await expectEventually(() => expect(c.got()).toEqual([q.text]));
    const conv = await c.conversation();
    const attributes = async () => (await h.ds.query('SELECT attributes FROM chat_ingress.contacts WHERE id = $1', [conv.contact_id]))[0].attributes;
    const requests = () => h.probe.ofType<{ channelId: string; context: Record<string, unknown> }>('integration.requested').filter((e) => e.data.channelId === c.channel.id);
    const steps = () => h.probe.ofType<{ conversationId: string; stepId: string; outcome: string; nextStepId?: string }>('chat.flow.step')
      .filter((e) => e.data.conversationId === conv.id).map((e) => `${e.data.stepId}:${e.data.outcome}${e.data.nextStepId ? `→${e.data.nextStepId}` : ''}`);

    for (const [i, answer] of q.invalid.entries()) {
      await (typeof answer === 'string' ? c.text(answer) : c.say(answer));
      // The reply goes out with the state its transaction saved: once it is sent, the step's state is final.
      await expectEventually(() => expect(c.got()).toEqual([q.text, ...Array(i + 1).fill(reasked)]));
      expect((await c.conversation()).flow_state).toEqual({ stepId: 'ask', waiting: 'input', invalidCount: i + 1 });
      expect(await attributes()).toEqual({});
    }
    await h.settled();
    expect(steps()).toEqual(['ask:entered', ...q.invalid.map(() => 'ask:invalid')]);
    expect(requests()).toEqual([]);

    await c.text(q.valid);
    const request = await expectEventually(() => {
      expect(requests()).toHaveLength(1);
      return requests()[0]!;
    });
    expect(request.data.context).toMatchObject({ answer: q.stored, contact: { attributes: { answer: q.stored } } });
    expect(await attributes()).toEqual({ answer: q.stored });
    expect((await c.conversation()).flow_state).toMatchObject({ stepId: 'use', waiting: 'integration' });
    await h.settled();
    expect(steps()).toEqual(['ask:entered', ...q.invalid.map(() => 'ask:invalid'), 'ask:answered→use', 'use:entered', 'use:waiting']);
    // The wait ends (the conversation closes) instead of being left to a later test's scheduler tick.
    await outcome(c, 'succeeded');
    await expectEventually(() => expect(c.got().at(-1)).toBe('Obrigado!'));
  });

  it('later steps show the answers stored so far and the contact\'s name and phone; a flow naming a field that does not exist is refused', async () => {
    const c = await tenantWith({ start: 'name', steps: {
      name: { type: 'question', text: 'Seu nome?', validate: 'text', attribute: 'nome', next: 'mail' },
      mail: { type: 'question', text: '{contact.attributes.nome}, seu e-mail?', validate: 'email', attribute: 'email', next: 'done' },
      done: { type: 'message', text: 'Obrigado, {contact.attributes.nome} ({contact.name}, {contact.phone}): enviaremos para {contact.attributes.email}. {contact.attributes.cidade}Fim.', next: 'bye' },
      bye: { type: 'close', text: 'Até logo, {contact.attributes.nome}!' },
    } });
    await c.text('oi');
    await expectEventually(() => expect(c.got()).toEqual(['Seu nome?']));
    await c.text(' Ana Maria ');
    // Shown in the very run that stored it, and then in later ones; an attribute never asked shows as nothing.
    await expectEventually(() => expect(c.got()).toEqual(['Seu nome?', 'Ana Maria, seu e-mail?']));
    await c.text('Ana@Provedor.com.br');
    await expectEventually(() => expect(c.got()).toEqual([
      'Seu nome?', 'Ana Maria, seu e-mail?',
      `Obrigado, Ana Maria (Cliente, +${c.phone}): enviaremos para ana@provedor.com.br. Fim.`,
      'Até logo, Ana Maria!',
    ]));
    const refused = await h.api('PUT', '/flow', c.headers, { start: 'hi', steps: { hi: { type: 'message', text: 'Oi {contact.nome}', next: 'bye' }, bye: { type: 'close' } } });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).toContain('steps.hi.text names no contact field ({contact.nome})');
  });

  it('every step the customer answers publishes chat.flow.step answered: message buttons and a location at a viability step too', async () => {
    const c = await tenantWith({ start: 'hi', steps: {
      hi: { type: 'message', text: 'Quer checar a cobertura?', buttons: [{ id: 'sim', title: 'Sim' }], next: 'where' },
      where: { type: 'viability', text: 'Envie sua localização', onViable: 'bye', onNotViable: 'bye' },
      bye: { type: 'close' },
    } });
    await c.text('oi');
    await expectEventually(() => expect(c.got()).toEqual(['Quer checar a cobertura?']));
    await c.say({ type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: 'sim', title: 'Sim' } } });
    await expectEventually(() => expect(c.got().at(-1)).toBe('Envie sua localização'));
    await c.say({ type: 'location', location: { latitude: -25.43, longitude: -49.27 } });
    const conv = await expectEventually(async () => {
      const x = await c.conversation();
      expect(x.flow_state).toMatchObject({ stepId: 'where', waiting: 'viability' });
      return x;
    });
    await h.settled();
    const steps = h.published<{ conversationId: string; stepId: string; outcome: string; nextStepId?: string }>('chat.flow.step')
      .filter((e) => e.data.conversationId === conv.id).map((e) => `${e.data.stepId}:${e.data.outcome}${e.data.nextStepId ? `→${e.data.nextStepId}` : ''}`);
    expect(steps).toEqual(['hi:entered', 'hi:answered→where', 'where:entered', 'where:answered', 'where:waiting']);
    // Off the bot queue, the wait this leaves never times out: a tick's counts cover every tenant, and a slow run would
    // otherwise count it in the later tests' timedOut.
    expect((await h.api('POST', `/conversations/${conv.id}/transfer`, c.headers, {})).status).toBe(200);
  });

  it('a message step\'s buttons go out with titles of at most 20 characters, as a menu\'s do (a longer one was refused: the customer got nothing)', async () => {
    const c = await tenantWith({ start: 'hi', steps: {
      hi: { type: 'message', text: 'Podemos ajudar?', buttons: [{ id: 'cobertura', title: 'Quero checar a cobertura' }, { id: 'nao', title: 'Não' }], next: 'bye' },
      bye: { type: 'close' },
    } });
    await c.text('oi');
    const sent = (await c.onlyRequest()) as unknown as { interactive: { action: { buttons: Array<{ reply: { id: string; title: string } }> } } };
    expect(sent.interactive.action.buttons.map((b) => b.reply)).toEqual([{ id: 'cobertura', title: 'Quero checar a cober' }, { id: 'nao', title: 'Não' }]);
  });

  it('an integration\'s reply too long for a chat message with the step\'s text around it goes out cut, and the flow goes on', async () => {
    const c = await tenantWith({ start: 'billing', steps: {
      billing: { type: 'integration', integration: 'billing', successText: 'Seu boleto: {reply}', onSuccess: 'bye', onFailure: 'bye' },
      bye: { type: 'close', text: 'Até logo!' },
    } });
    await c.text('meu boleto');
    // The most the dispatcher sends (a chat message's 4,096 characters); with the step's text around it, more.
    await outcome(c, 'succeeded', 'x'.repeat(4096));
    await expectEventually(() => expect(c.got().map((t) => [t.slice(0, 14), t.length])).toEqual([['Seu boleto: xx', 4096], ['Até logo!', 9]]));
    expect(c.got()[0].endsWith('x…')).toBe(true);
  });

  /** The wait the scheduler gives up on has run out (its waitUntil passed, and with it its due time). */
  const waitRunOut = async (conversationId: string) => {
    await h.ds.query(
      `UPDATE chat_ingress.conversations SET flow_state = flow_state || jsonb_build_object('waitUntil', (now() - interval '1 second')::text) WHERE id = $1`, [conversationId]);
    await keepFlowDue(h.ds.manager, [conversationId]);
  };

  it('a conversation moved to people while the flow waits for an outcome leaves the wait: back with the bot, the customer\'s next message starts the flow again (no stale timeout into the failure branch)', async () => {
    const c = await tenantWith({ start: 'menu', steps: {
      menu: { type: 'menu', text: 'Olá! Escolha:', options: [{ id: 'boleto', title: 'Boleto', next: 'billing' }] },
      billing: { type: 'integration', integration: 'billing', failureText: 'Não encontrei seu boleto.', onSuccess: 'bye', onFailure: 'human' },
      human: { type: 'transfer', queue: 'human', text: 'Vou te passar para um atendente.' },
      bye: { type: 'close' },
    } });
    await c.text('oi');
    await expectEventually(() => expect(c.got()).toEqual(['Olá! Escolha:\n1 - Boleto']));
    await c.text('1');
    const waiting = await expectEventually(async () => {
      const conv = await c.conversation();
      expect(conv.flow_state).toMatchObject({ stepId: 'billing', waiting: 'integration' });
      return conv;
    });
    // An agent takes the customer over; longer than the wait's limit goes by; the agent hands back to the bot.
    expect((await h.api('POST', `/conversations/${waiting.id}/transfer`, c.headers, {})).status).toBe(200);
    await waitRunOut(waiting.id);
    expect((await h.api('POST', `/conversations/${waiting.id}/transfer`, c.headers, { queue: 'bot' })).status).toBe(200);
    expect(await tickFor(h.app, { tenantId: c.tenantId })).toMatchObject({ timedOut: 0 });

    await c.text('oi de novo');
    await expectEventually(() => expect(c.got().at(-1)).toBe('Olá! Escolha:\n1 - Boleto'));
    expect(c.got()).not.toContain('Não encontrei seu boleto.');
    expect(await c.conversation()).toMatchObject({ id: waiting.id, queue: 'bot', flow_state: { stepId: 'menu', waiting: 'input' } });
  });

  it('a conversation whose flow is done starts again on the tenant\'s latest version when the customer writes again', async () => {
    const c = await tenantWith({ start: 'hi', steps: { hi: { type: 'message', text: 'Versão 1' } } });
    await c.text('oi');
    await expectEventually(() => expect(c.got()).toEqual(['Versão 1']));
    const done = await expectEventually(async () => {
      const conv = await c.conversation();
      expect(conv).toMatchObject({ flow_version: 1, flow_state: { stepId: 'hi', done: true } });
      return conv;
    });
    expect((await h.api('PUT', '/flow', c.headers, { start: 'hi', steps: { hi: { type: 'message', text: 'Versão 2' } } })).status).toBe(200);
    await c.text('oi de novo');
    await expectEventually(() => expect(c.got()).toEqual(['Versão 1', 'Versão 2']));
    expect(await c.conversation()).toMatchObject({ id: done.id, status: 'open', flow_version: 2 });
  });

  it('a timed-out integration step\'s failureText has no reply to show: {reply} in it becomes empty, as on the failure path without one', async () => {
    const c = await tenantWith({ start: 'billing', steps: {
      billing: { type: 'integration', integration: 'billing', failureText: 'Não deu: {reply}', onSuccess: 'bye', onFailure: 'bye' },
      bye: { type: 'close', text: 'Até logo!' },
    } });
    await c.text('meu boleto');
    const waiting = await expectEventually(async () => {
      const conv = await c.conversation();
      expect(conv.flow_state).toMatchObject({ stepId: 'billing', waiting: 'integration' });
      return conv;
    });
    await waitRunOut(waiting.id);
    expect(await tickFor(h.app, { tenantId: c.tenantId })).toMatchObject({ timedOut: 1 });
    await expectEventually(() => expect(c.got()).toEqual(['Não deu: ', 'Até logo!']));
  });

  it('silence after a long wait counts from when the wait ended (the bot just spoke), not from the customer\'s message before it', async () => {
    const c = await tenantWith({ start: 'billing', steps: {
      billing: { type: 'integration', integration: 'billing', timeoutSeconds: 3600, successText: 'Seu boleto: {reply}', onSuccess: 'more', onFailure: 'more' },
      more: { type: 'menu', text: 'Algo mais?', options: [{ id: 'nao', title: 'Não', next: 'bye' }] },
      bye: { type: 'close' },
    } }, { reminderMessage: 'Ainda está aí?' });
    await c.text('meu boleto');
    const waiting = await expectEventually(async () => {
      const conv = await c.conversation();
      expect(conv.flow_state).toMatchObject({ stepId: 'billing', waiting: 'integration' });
      return conv;
    });
    // The outcome comes 25 minutes later (the channel reminds after 10 minutes of silence).
    await h.ds.query(`UPDATE chat_ingress.messages SET created_at = created_at - interval '25 minutes' WHERE conversation_id = $1 AND direction = 'in'`, [waiting.id]);
    await keepFlowDue(h.ds.manager, [waiting.id]);
    await outcome(c, 'succeeded', 'https://erp.example.com/b/1.pdf');
    await expectEventually(async () => expect((await c.conversation()).flow_state).toMatchObject({ stepId: 'more', waiting: 'input' }));
    const tick = () => tickFor(h.app, { tenantId: c.tenantId });
    expect(await tick()).toMatchObject({ reminded: 0 });
    await expectEventually(() => expect(c.got()).toEqual(['Seu boleto: https://erp.example.com/b/1.pdf', 'Algo mais?\n1 - Não']));
    // Ten minutes after the wait ended the customer is silent: reminded.
    await h.ds.query(`UPDATE chat_ingress.conversations SET flow_state = flow_state || jsonb_build_object('waitEndedAt', now() - interval '11 minutes') WHERE id = $1`, [waiting.id]);
    await keepFlowDue(h.ds.manager, [waiting.id]);
    expect(await tick()).toMatchObject({ reminded: 1 });
    await expectEventually(() => expect(c.got().at(-1)).toBe('Ainda está aí?'));
  });

  it('a reply stored by a transaction begun before the reminder went out still answers the reminder: the conversation is not closed for silence', async () => {
    const c = await tenantWith({ start: 'menu', steps: {
      menu: { type: 'menu', text: 'Olá! Escolha:', options: [{ id: 'cpf', title: 'Boleto', next: 'ask' }] },
      ask: { type: 'question', text: 'Seu CPF?', validate: 'cpf_cnpj', attribute: 'cpf', next: 'bye' },
      bye: { type: 'close' },
    } }, { reminderMessage: 'Ainda está aí?' });
    await c.text('oi');
    await expectEventually(() => expect(c.got()).toEqual(['Olá! Escolha:\n1 - Boleto']));
    const conv = await c.conversation();
    await h.ds.query(`UPDATE chat_ingress.messages SET created_at = created_at - interval '11 minutes' WHERE conversation_id = $1 AND direction = 'in'`, [conv.id]);
    await keepFlowDue(h.ds.manager, [conv.id]);

    // The customer's answer: its webhook's transaction begins (its messages' created_at), then waits on a lock.
    const blocker = h.ds.createQueryRunner();
    await blocker.connect();
    await blocker.startTransaction();
    await blocker.query('LOCK TABLE chat_ingress.webhook_receipts IN SHARE MODE');
    const answered = c.text('1');
    await expectEventually(async () => {
      const [w] = await h.ds.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%webhook_receipts%' AND pid <> pg_backend_pid()`);
      expect(w.n).toBe(1);
    });
    // Meanwhile the reminder goes out (its transaction begins after the answer's), then the answer is stored.
    const tick = () => tickFor(h.app, { tenantId: c.tenantId });
    expect(await tick()).toMatchObject({ reminded: 1 });
    const { reminder_sent_at: remindedAt } = await c.conversation();
    await blocker.commitTransaction();
    await blocker.release();
    await answered;
    // The answer's time is its transaction's start: before the reminder's, though it came after.
    const [last] = await h.ds.query(`SELECT max(created_at) AS at FROM chat_ingress.messages WHERE conversation_id = $1 AND direction = 'in'`, [conv.id]);
    expect(last.at.getTime()).toBeLessThan(remindedAt.getTime());
    await expectEventually(() => expect(c.got()).toEqual(['Olá! Escolha:\n1 - Boleto', 'Ainda está aí?', 'Seu CPF?']));

    // The time to close after a reminder passes: the customer answered it, so the conversation stays open.
    await h.ds.query(`UPDATE chat_ingress.conversations SET reminder_sent_at = reminder_sent_at - interval '11 minutes' WHERE id = $1`, [conv.id]);
    await h.ds.query(`UPDATE chat_ingress.messages SET created_at = created_at - interval '11 minutes' WHERE conversation_id = $1 AND direction = 'in'`, [conv.id]);
    await keepFlowDue(h.ds.manager, [conv.id]);
    expect(await tick()).toMatchObject({ closed: 0 });
    expect(await c.conversation()).toMatchObject({ id: conv.id, status: 'open' });
  });

  it("the bot's steps carry the correlation id of the webhook the customer's message came in (one webhook's events in a call of their own, or several webhooks' in one)", async () => {
    const menu = { start: 'menu', steps: {
      menu: { type: 'menu', text: 'Escolha:', invalidText: 'Não entendi.', options: [{ id: 'boleto', title: 'Boleto', next: 'bye' }] },
      bye: { type: 'close', text: 'Até logo!' },
    } };
    type Step = { conversationId: string; stepId: string; outcome: string };
    const stepsOf = (conversationId: string) => h.probe.ofType<Step>('chat.flow.step').filter((e) => e.data.conversationId === conversationId);
    const a = await tenantWith(menu);
    const b = await tenantWith(menu);
    const corrA = `corr-flow-a-${randomUUID()}`;
    const corrB = `corr-flow-b-${randomUUID()}`;
    await a.text('oi');
    await b.text('oi');
    await expectEventually(() => {
      expect(a.got()).toEqual(['Escolha:\n1 - Boleto']);
      expect(b.got()).toEqual(['Escolha:\n1 - Boleto']);
    });
    const [convA, convB] = [await a.conversation(), await b.conversation()];
    // A webhook of its own: its message's events and the bot's step answering it carry the webhook's id.
    await a.say({ type: 'text', text: { body: 'nada' } }, { 'x-correlation-id': corrA });
    await expectEventually(() => {
      const received = h.probe.ofType<{ conversationId: string; message: { text?: string } }>('chat.message.received').filter((e) => e.data.conversationId === convA.id);
      expect(received.find((e) => e.data.message.text === 'nada')?.correlationid).toBe(corrA);
      expect(stepsOf(convA.id).filter((e) => e.correlationid === corrA)).not.toHaveLength(0);
    }, { timeoutMs: 20_000 });
    // Two customers' messages, of two requests, reach the flow in one call (one broker message): each step keeps its own id.
    const again = (conversationId: string, correlationId: string) => {
      const earlier = h.probe.ofType<Record<string, unknown> & { conversationId: string; message: Record<string, unknown>; providerTimestamp: string }>('chat.message.received')
        .filter((e) => e.data.conversationId === conversationId).at(-1)!;
      return createEvent({
        type: 'chat.message.received', source: 'elo://chat-ingress', tenantId: earlier.tenantid, subject: earlier.subject, correlationId,
        data: { ...earlier.data, providerMessageId: `wamid.MIXED.${randomUUID()}`, providerTimestamp: new Date().toISOString(), message: { ...earlier.data.message, text: 'outra coisa' } },
      });
    };
    const stepsBefore = { a: stepsOf(convA.id).length, b: stepsOf(convB.id).length };
    const corrA2 = `corr-flow-a2-${randomUUID()}`;
    await h.probe.publishBatched(again(convA.id, corrA2), again(convB.id, corrB));
    const [newA, newB] = await expectEventually(() => {
      // (a late step of the webhook before, its own id, is not one of these)
      const x = stepsOf(convA.id).slice(stepsBefore.a).filter((e) => e.correlationid !== corrA);
      const y = stepsOf(convB.id).slice(stepsBefore.b);
      expect(x).not.toHaveLength(0);
      expect(y).not.toHaveLength(0);
      return [x, y];
    }, { timeoutMs: 20_000 });
    expect(newA!.map((e) => e.correlationid)).toEqual(newA!.map(() => corrA2));
    expect(newB!.map((e) => e.correlationid)).toEqual(newB!.map(() => corrB));
  });

  it('a reaction (a 👍 on the bot\'s menu) answers nothing: the menu is not asked again, the next text is taken', async () => {
    const c = await tenantWith({ start: 'menu', steps: {
      menu: { type: 'menu', text: 'Escolha:', invalidText: 'Não entendi.', options: [{ id: 'boleto', title: 'Boleto', next: 'bye' }] },
      bye: { type: 'close', text: 'Até logo!' },
    } });
    await c.text('oi');
    await expectEventually(() => expect(c.got()).toEqual(['Escolha:\n1 - Boleto']));
    const conv = await c.conversation();
    await c.say({ type: 'reaction', reaction: { message_id: 'wamid.OUT', emoji: '👍' } });
    const reaction = await expectEventually(() => {
      const e = h.probe.ofType<{ conversationId: string; message: { kind: string; providerType?: string } }>('chat.message.received').find((x) => x.data.conversationId === conv.id && x.data.message.providerType === 'reaction');
      expect(e).toBeDefined();
      return e!;
    });
    // Handled by the flow (its inbox row commits with anything it would send): nothing queued for the customer.
    await expectEventually(async () => expect(await h.ds.query('SELECT 1 FROM chat_ingress.inbox WHERE event_id = $1', [reaction.id])).not.toHaveLength(0));
    expect(await h.ds.query(`SELECT count(*)::int AS n FROM chat_ingress.messages WHERE conversation_id = $1 AND direction = 'out'`, [conv.id])).toEqual([{ n: 1 }]);
    await c.text('1');
    await expectEventually(() => expect(c.got()).toEqual(['Escolha:\n1 - Boleto', 'Até logo!']));
  });

  it('a WhatsApp menu too long for reply buttons (1,024 characters) goes out as numbered text without them; a number still picks', async () => {
    const intro = `${'Leia com atenção. '.repeat(62)}Escolha:`; // over 1,024 characters with the option lines
    const c = await tenantWith({ start: 'menu', steps: {
      menu: { type: 'menu', text: intro, options: [{ id: 'boleto', title: 'Boleto', next: 'bye' }, { id: 'humano', title: 'Atendente', next: 'human' }] },
      human: { type: 'transfer', queue: 'atendimento', text: 'Um momento.' },
      bye: { type: 'close', text: 'Até logo!' },
    } });
    await c.text('oi');
    const menu = await c.onlyRequest();
    expect(menu.type).toBe('text');
    expect(menu.text?.body).toBe(`${intro}\n1 - Boleto\n2 - Atendente`);
    await c.text('2');
    // The transfer's own notices may follow it (waiting), in any order.
    await expectEventually(() => expect(c.got()).toContain('Um momento.'));
  });

  it('a WhatsApp menu of four to ten options goes out as a list (one row each, id and title); the row the customer picks leads to its step', async () => {
    const options = ['Boleto', 'Planos', 'Suporte técnico', 'Mudança de endereço', 'Cancelamento'].map((title, i) => ({ id: `op${i + 1}`, title, next: i === 3 ? 'moving' : 'bye' }));
    const c = await tenantWith({ start: 'menu', steps: {
      menu: { type: 'menu', text: 'Como podemos ajudar?', options },
      moving: { type: 'close', text: 'Vamos agendar sua mudança.' },
      bye: { type: 'close', text: 'Até logo!' },
    } });
    await c.text('oi');
    const sent = (await c.onlyRequest()) as unknown as { type: string; interactive: { type: string; body: { text: string }; action: { button: string; sections: Array<{ rows: Array<{ id: string; title: string }> }> } } };
    expect(sent.type).toBe('interactive');
    expect(sent.interactive).toMatchObject({ type: 'list', body: { text: expect.stringMatching(/^Como podemos ajudar\?/) }, action: { button: expect.any(String) } });
    expect(sent.interactive.action.sections.flatMap((s) => s.rows)).toEqual(options.map((o) => ({ id: o.id, title: o.title })));
    await c.say({ type: 'interactive', interactive: { type: 'list_reply', list_reply: { id: 'op4', title: 'Mudança de endereço' } } });
    await expectEventually(() => expect(c.got().at(-1)).toBe('Vamos agendar sua mudança.'));
  });

  it('a message step with more buttons than WhatsApp shows (ten) lists them all as numbered lines instead of dropping some', async () => {
    const buttons = Array.from({ length: 12 }, (_, i) => ({ id: `op${i + 1}`, title: `Opção ${i + 1}` }));
    const c = await tenantWith({ start: 'hi', steps: {
      hi: { type: 'message', text: 'Escolha uma opção', buttons, next: 'bye' },
      bye: { type: 'close', text: 'Até logo!' },
    } });
    await c.text('oi');
    const sent = await c.onlyRequest();
    expect(sent.type).toBe('text');
    expect(sent.text?.body).toBe(['Escolha uma opção', ...buttons.map((b, i) => `${i + 1} - ${b.title}`)].join('\n'));
    await c.text('12');
    await expectEventually(() => expect(c.got().at(-1)).toBe('Até logo!'));
  });

  it('a Telegram message step with more buttons than an inline keyboard takes (100) goes out without the keyboard (Telegram would refuse it), its buttons as numbered lines; the flow goes on', async () => {
    const t = await h.tenantKey();
    const token = `79${++seq}:tg-bot-flow`;
    const tg = (await h.api<{ id: string; secrets: Record<string, string> }>('POST', '/channels', t.headers, { provider: 'telegram', name: 'tg bot', botName: 'elo_bot', credentials: { accessToken: token } })).body;
    const buttons = Array.from({ length: 101 }, (_, i) => ({ id: `op${i + 1}`, title: `Opção ${i + 1}` }));
    expect((await h.api('PUT', '/flow', t.headers, { start: 'hi', steps: {
      hi: { type: 'message', text: 'Escolha uma opção', buttons, next: 'bye' },
      bye: { type: 'close', text: 'Até logo!' },
    } })).status).toBe(200);
    const chat = 880000999;
    const say = async (text: string) => {
      const body = { update_id: ++seq, message: { message_id: seq, date: Math.floor(Date.now() / 1000), chat: { id: chat, type: 'private' }, from: { id: chat, first_name: 'Ana' }, text } };
      expect((await h.api('POST', `/webhooks/telegram/${tg.id}`, { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': tg.secrets.telegramSecretToken }, body)).status).toBe(200);
    };
    const got = () => h.fakes.sent(`/tg/bot${token}/sendMessage`).map((r) => r.body);
    await say('oi');
    const sent = await expectEventually(() => {
      expect(got()).toHaveLength(1);
      return got()[0]!;
    });
    expect(sent).not.toHaveProperty('reply_markup');
    expect(sent.text).toBe(['Escolha uma opção', ...buttons.map((b, i) => `${i + 1} - ${b.title}`)].join('\n'));
    await say('Opção 101');
    await expectEventually(() => expect(got().at(-1)?.text).toBe('Até logo!'));
  });

  /** A tenant with a Messenger channel running `flow`, one customer (PSID) of it, and what the fake Send API got for them. */
  const messengerWith = async (flow: unknown) => {
    const t = await h.tenantKey();
    const page = `1300000000${String(++seq).padStart(6, '0')}`;
    const psid = `7200000000${String(seq).padStart(6, '0')}`;
    const channel = (await h.api<{ id: string }>('POST', '/channels', t.headers, {
      provider: 'messenger', name: 'bot messenger', accountId: page, credentials: { accessToken: 'page-tok', appSecret: 'ms-secret' },
    })).body;
    expect((await h.api('PUT', '/flow', t.headers, flow)).status).toBe(200);
    /** Posts `items` on the page's primary channel (`messaging`) or its standby channel (the thread is another app's). */
    const post = async (field: 'messaging' | 'standby', ...items: Array<Record<string, unknown>>) => {
      const body = { object: 'page', entry: [{ id: page, time: Date.now(), [field]: items.map((x) => ({ sender: { id: psid }, recipient: { id: page }, timestamp: Date.now(), ...x })) }] };
      expect((await h.postMeta('messenger', channel.id, JSON.stringify(body), 'ms-secret')).status).toBe(200);
    };
    const got = () => h.fakes.sent('/me/messages').filter((r) => (r.body.recipient as { id: string }).id === psid).map((r) => (r.body.message as { text: string }).text);
    /** The chat.message.received of `providerMessageId`, once the bot flow has handled it (its inbox row commits with anything it sends). */
    const handled = async (providerMessageId: string) => {
      const e = await expectEventually(() => {
        const x = h.probe.ofType<{ conversationId: string; providerMessageId: string; message: Record<string, unknown> }>('chat.message.received').find((y) => y.data.providerMessageId === providerMessageId);
        expect(x).toBeDefined();
        return x!;
      });
      await expectEventually(async () => expect(await h.ds.query('SELECT 1 FROM chat_ingress.inbox WHERE event_id = $1', [e.id])).not.toHaveLength(0));
      return e;
    };
    return { post, got, handled };
  };

  it('on Messenger (2,000 characters) the bot\'s long texts go out cut, not refused in its consumer until parked', async () => {
    const c = await messengerWith({ start: 'hi', steps: {
      hi: { type: 'message', text: 'h'.repeat(2_500), next: 'bye' },
      bye: { type: 'close', text: 'z'.repeat(2_100) },
    } });
    await c.post('messaging', { message: { mid: `m_BOT${seq}`, text: 'oi' } });
    await expectEventually(() => expect(c.got().map((x) => [x[0], x.length])).toEqual([['h', 2_000], ['z', 2_000]]), { timeoutMs: 10_000 });
    expect(c.got().every((x) => x.endsWith('…'))).toBe(true);
  });

  it('Messenger standby (the Page Inbox owns the thread, Handover Protocol): stored and published marked standby, the bot does not answer', async () => {
    const c = await messengerWith({ start: 'menu', steps: {
      menu: { type: 'menu', text: 'Escolha:', invalidText: 'Não entendi.', options: [{ id: 'boleto', title: 'Boleto', next: 'bye' }] },
      bye: { type: 'close', text: 'Até logo!' },
    } });
    const mid = `m_STANDBY${seq}`;
    await c.post('standby', { message: { mid, text: 'oi, ainda estou esperando o atendente' } });
    const e = await c.handled(mid);
    expect(await h.ds.query(`SELECT count(*)::int AS n FROM chat_ingress.messages WHERE conversation_id = $1 AND direction = 'out'`, [e.data.conversationId])).toEqual([{ n: 0 }]);
    expect(e.data.message).toEqual({ kind: 'text', text: 'oi, ainda estou esperando o atendente', standby: true });
    expect(await h.ds.query(`SELECT body->>'standby' AS standby FROM chat_ingress.messages WHERE provider_message_id = $1 AND direction = 'in'`, [mid])).toEqual([{ standby: 'true' }]);
    // The thread is passed back to the bot (primary channel): its messages are answered.
    await c.post('messaging', { message: { mid: `m_PRIMARY${seq}`, text: 'oi' } });
    await expectEventually(() => expect(c.got()).toEqual(['Escolha:\n1 - Boleto']));
  });

  it('Messenger: a reaction is stored unsupported (reaction) and an edit as its new text, edited; neither answers the menu', async () => {
    const c = await messengerWith({ start: 'menu', steps: {
      menu: { type: 'menu', text: 'Escolha:', invalidText: 'Não entendi.', options: [{ id: 'boleto', title: 'Boleto', next: 'bye' }] },
      bye: { type: 'close', text: 'Até logo!' },
    } });
    await c.post('messaging', { message: { mid: `m_HI${seq}`, text: 'oi' } });
    await expectEventually(() => expect(c.got()).toEqual(['Escolha:\n1 - Boleto']));
    const at = Date.now();
    await c.post('messaging', { timestamp: at, reaction: { mid: 'm_OUT_MENU', action: 'react', reaction: 'like', emoji: '\u{1F44D}' } }, { message_edit: { mid: `m_HI${seq}`, text: '1', num_edit: 1 } });
    const reaction = await c.handled(`reaction:m_OUT_MENU:${at}`);
    expect(reaction.data.message).toEqual({ kind: 'unsupported', providerType: 'reaction' });
    const edit = await c.handled(`edit:m_HI${seq}:1`);
    expect(edit.data.message).toEqual({ kind: 'text', text: '1', edited: true });
    expect(edit.data.conversationId).toBe(reaction.data.conversationId);
    expect(c.got()).toEqual(['Escolha:\n1 - Boleto']);
    await c.post('messaging', { message: { mid: `m_ONE${seq}`, text: '1' } });
    await expectEventually(() => expect(c.got()).toEqual(['Escolha:\n1 - Boleto', 'Até logo!']));
  });

  it('a customer with a FindME link out is not reminded nor closed for silence: the link has its own, longer wait', async () => {
    const c = await tenantWith({ start: 'where', steps: {
      where: { type: 'viability', text: 'Marque seu endereço no link', findme: true, viableText: 'Atendemos!', onViable: 'bye', onNotViable: 'bye' },
      bye: { type: 'close', text: 'Até logo!' },
    } }, { reminderMessage: 'Ainda está aí?' });
    await c.text('tem fibra aqui?');
    const waiting = await expectEventually(async () => {
      const conv = await c.conversation();
      expect(conv.flow_state).toMatchObject({ stepId: 'where', waiting: 'viability', findme: true });
      return conv;
    });
    // 25 minutes later the link (30 minutes of life, waited for 35) is still out and the customer still on the map:
    // past the channel's 10 minutes of silence before a reminder, and 10 more before a close.
    await h.ds.query(`UPDATE chat_ingress.messages SET created_at = created_at - interval '25 minutes' WHERE conversation_id = $1 AND direction = 'in'`, [waiting.id]);
    await keepFlowDue(h.ds.manager, [waiting.id]);
    const scheduler = h.app.get(FlowScheduler);
    await scheduler.tick();
    expect(await c.conversation()).toMatchObject({ id: waiting.id, status: 'open', reminder_sent_at: null });
    // A reminder sent while waiting by an earlier release does not close the conversation under the link either.
    await h.ds.query(`UPDATE chat_ingress.conversations SET reminder_sent_at = now() - interval '11 minutes' WHERE id = $1`, [waiting.id]);
    await keepFlowDue(h.ds.manager, [waiting.id]);
    await scheduler.tick();
    expect(await c.conversation()).toMatchObject({ id: waiting.id, status: 'open' });

    // The customer picks the spot: the flow answers it.
    await h.probe.publish(createEvent({ type: 'viability.checked', source: 'elo://viability', tenantId: c.tenantId, data: { requestId: waiting.flow_state.requestId, conversationId: waiting.id, status: 'viable', via: 'findme' } }));
    await expectEventually(() => expect(c.got()).toEqual(['Marque seu endereço no link', 'Atendemos!', 'Até logo!']));
  });
});
