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
