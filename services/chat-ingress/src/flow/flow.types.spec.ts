import { flowProblems } from './flow.types';

describe('flowProblems', () => {
  it('names the field of each problem, in the dotted form the console puts errors beside', () => {
    const problems = flowProblems({
      start: 'menu',
      steps: {
        menu: { type: 'menu', text: 'Escolha', options: [{ id: '1', title: 'Suporte', next: 'human' }, { id: '2', title: ' ', next: 'nowhere' }] },
        human: { type: 'transfer', queue: '' },
        odd: { type: 'teleport' },
      },
    });
    expect(problems).toEqual([
      { field: 'steps.menu.options.1.title', message: 'steps.menu.options[1].title must be non-empty text' },
      { field: 'steps.menu.options.1.next', message: 'steps.menu.options[1].next names no step (nowhere)' },
      { field: 'steps.human.queue', message: 'steps.human.queue must be non-empty text' },
      { field: 'steps.odd.type', message: 'steps.odd.type must be message, menu, question, integration, viability, transfer or close' },
    ]);
  });

  it('refuses a text naming a contact field that does not exist, and takes the ones that do', () => {
    const flow = (text: string) => ({ start: 'hi', steps: { hi: { type: 'message', text, next: 'bye' }, bye: { type: 'close', text } } });
    expect(flowProblems(flow('Oi {contact.name}, {contact.phone}, {contact.attributes.cpf} {reply} {outra}'))).toEqual([]);
    const hint = 'use {contact.name}, {contact.phone} or {contact.attributes.<attribute>}';
    expect(flowProblems(flow('Oi {contact.nome} {contact.attributes.}'))).toEqual([
      { field: 'steps.hi.text', message: `steps.hi.text names no contact field ({contact.nome}): ${hint}` },
      { field: 'steps.hi.text', message: `steps.hi.text names no contact field ({contact.attributes.}): ${hint}` },
      { field: 'steps.bye.text', message: `steps.bye.text names no contact field ({contact.nome}): ${hint}` },
      { field: 'steps.bye.text', message: `steps.bye.text names no contact field ({contact.attributes.}): ${hint}` },
    ]);
  });

  it('names start when it points nowhere, and nothing when the flow can run', () => {
    expect(flowProblems({ start: 'x', steps: { bye: { type: 'close' } } })).toEqual([{ field: 'start', message: 'start names no step (x)' }]);
    expect(flowProblems({ start: 'bye', steps: { bye: { type: 'close' } } })).toEqual([]);
    expect(flowProblems(null)).toEqual([{ message: 'definition must be an object' }]);
  });

  it('menu options and message buttons need an id (the reply button carries it, and a typed answer is matched against it)', () => {
    const problems = flowProblems({
      start: 'menu',
      steps: {
        menu: { type: 'menu', text: 'Escolha', options: [{ title: 'Suporte', next: 'hi' }, { id: 7, title: 'Vendas', next: 'hi' }] },
        hi: { type: 'message', text: 'Olá', buttons: [{ title: 'Ok' }, { id: 'ok' }] },
      },
    });
    expect(problems.map((p) => p.field)).toEqual(['steps.menu.options.0.id', 'steps.menu.options.1.id', 'steps.hi.buttons.0.id', 'steps.hi.buttons.1.title']);
    // At most 64 bytes (Telegram gives no more of a button's data back): 13 'ção' are 65 bytes, 12 are 60.
    const long = flowProblems({ start: 'menu', steps: { menu: { type: 'menu', text: 'Escolha', options: [{ id: 'ção'.repeat(13), title: 'Longa', next: 'menu' }, { id: 'ção'.repeat(12), title: 'Curta', next: 'menu' }] } } });
    expect(long).toEqual([{ field: 'steps.menu.options.0.id', message: expect.stringContaining('64 bytes') }]);
  });

  it('checks the wait limit of integration and viability steps: onTimeout names a step, timeoutSeconds is 1 to 86400', () => {
    const def = (extra: Record<string, unknown>) => ({ start: 'i', steps: { i: { type: 'integration', integration: 'billing', onSuccess: 'bye', onFailure: 'bye', ...extra }, bye: { type: 'close' } } });
    expect(flowProblems(def({ timeoutSeconds: 120, timeoutText: 'Demorou.', onTimeout: 'bye' }))).toEqual([]);
    expect(flowProblems(def({ timeoutSeconds: 0, onTimeout: 'nowhere', timeoutText: ' ' })).map((p) => p.field)).toEqual(['steps.i.onTimeout', 'steps.i.timeoutText', 'steps.i.timeoutSeconds']);
  });
});

describe('flowProblems: flows that cannot run as drawn', () => {
  it('refuses message steps that lead back to themselves without waiting for the customer (the bot would send them over and over)', () => {
    const looping = flowProblems({
      start: 'hi',
      steps: {
        hi: { type: 'message', text: 'Olá', next: 'info' },
        info: { type: 'message', text: 'Horário: 8h às 18h', next: 'hi' },
        self: { type: 'message', text: 'De novo', next: 'self' },
      },
    });
    expect(looping).toEqual([
      { field: 'steps.info.next', message: expect.stringContaining('steps.info.next leads back to steps.hi') },
      { field: 'steps.self.next', message: expect.stringContaining('steps.self.next leads back to steps.self') },
    ]);
    // A loop that waits for the customer somewhere (a menu, message buttons) is a flow, not a spin.
    expect(flowProblems({
      start: 'hi',
      steps: {
        hi: { type: 'message', text: 'Olá', next: 'menu' },
        menu: { type: 'menu', text: 'Escolha', options: [{ id: 'again', title: 'De novo', next: 'hi' }] },
        ok: { type: 'message', text: 'Tudo certo?', buttons: [{ id: 'sim', title: 'Sim' }], next: 'ok' },
      },
    })).toEqual([]);
  });

  it('refuses two options (or buttons) of one step with the same id: the reply carries the id, so the second could never be picked', () => {
    const problems = flowProblems({
      start: 'menu',
      steps: {
        menu: { type: 'menu', text: 'Escolha', options: [{ id: 'a', title: 'Boleto', next: 'bye' }, { id: 'a', title: 'Suporte', next: 'bye' }] },
        hi: { type: 'message', text: 'Olá', buttons: [{ id: 'ok', title: 'Sim' }, { id: 'ok', title: 'Não' }] },
        bye: { type: 'close' },
      },
    });
    expect(problems).toEqual([
      { field: 'steps.menu.options.1.id', message: expect.stringContaining('steps.menu.options[1].id repeats') },
      { field: 'steps.hi.buttons.1.id', message: expect.stringContaining('steps.hi.buttons[1].id repeats') },
    ]);
  });
});

describe('flowProblems: the texts a step may send', () => {
  it('an optional text, when given, is non-empty text (the bot could not send it, and the customer\'s message would fail each time)', () => {
    const problems = flowProblems({
      start: 'menu',
      steps: {
        menu: { type: 'menu', text: 'Escolha', invalidText: '', options: [{ id: 'a', title: 'CPF', next: 'ask' }] },
        ask: { type: 'question', text: 'Seu CPF?', validate: 'cpf', attribute: 'cpf', invalidText: 5, next: 'billing' },
        billing: { type: 'integration', integration: 'billing', waitText: ' ', successText: { text: 'ok' }, failureText: '', onSuccess: 'where', onFailure: 'where' },
        where: { type: 'viability', text: 'Sua localização?', viableText: '', notViableText: 7, onViable: 'bye', onNotViable: 'bye' },
        bye: { type: 'close' },
      },
    });
    expect(problems.map((x) => x.field)).toEqual([
      'steps.menu.invalidText', 'steps.ask.invalidText', 'steps.billing.waitText', 'steps.billing.successText', 'steps.billing.failureText',
      'steps.where.viableText', 'steps.where.notViableText',
    ]);
    expect(problems[0].message).toBe('steps.menu.invalidText must be non-empty text');
  });
});
