import type { InboundMessage } from '@elo/contracts';
import { matchOption, waitTimeoutMs } from './flow-engine.service';

const OPTIONS = [
  { id: 'boleto', title: '2ª via do boleto', next: 'ask_cpf' },
  { id: 'humano', title: 'Falar com atendente', next: 'to_human' },
  { id: 'internet', title: 'Internet lenta', next: 'suporte' },
];
const pick = (text: string) => matchOption(OPTIONS, { kind: 'text', text } as InboundMessage)?.id;

describe('matchOption', () => {
  it('a number picks its option only when it is the whole answer (spaces and trailing punctuation allowed)', () => {
    for (const t of ['2', ' 2 ', '2.', '2)', '2 )', '02']) expect([t, pick(t)]).toEqual([t, 'humano']);
    expect(pick('1')).toBe('boleto');
    expect(pick('4')).toBeUndefined();
  });

  it('a leading digit is not an option number: "2ª via" is the boleto, not option 2', () => {
    expect(pick('2ª via')).toBe('boleto');
    expect(pick('2ª via do boleto')).toBe('boleto');
    expect(pick('quero a 2ª via do boleto por favor')).toBe('boleto');
    expect(pick('2 boletos atrasados')).toBeUndefined();
    expect(pick('3 dias sem internet')).toBeUndefined();
  });

  it('titles and ids match folded (case, accents); a partial answer only when one title holds it', () => {
    expect(pick('FALAR COM ATENDENTE')).toBe('humano');
    expect(pick('internet')).toBe('internet');
    expect(pick('lenta')).toBe('internet');
    expect(pick('via')).toBeUndefined();
    expect(pick('quero pizza')).toBeUndefined();
    expect(matchOption(OPTIONS, { kind: 'reply', reply: { id: 'humano', title: 'x' } } as InboundMessage)?.id).toBe('humano');
  });

  it('an option saved without an id (flows saved before ids were required) does not make a typed answer throw', () => {
    const legacy = [{ title: 'Suporte', next: 'x' }] as unknown as typeof OPTIONS;
    expect(matchOption(legacy, { kind: 'text', text: 'quero pizza' } as InboundMessage)).toBeUndefined();
    expect(matchOption(legacy, { kind: 'text', text: 'suporte' } as InboundMessage)?.title).toBe('Suporte');
  });
});

describe('waitTimeoutMs', () => {
  const config = { FLOW_WAIT_TIMEOUT_MS: 180_000, FLOW_FINDME_WAIT_TIMEOUT_MS: 35 * 60_000 };

  it('a FindME link is waited for as long as it lives (FLOW_FINDME_WAIT_TIMEOUT_MS), other outcomes FLOW_WAIT_TIMEOUT_MS', () => {
    expect(waitTimeoutMs({}, true, config)).toBe(35 * 60_000);
    expect(waitTimeoutMs({}, false, config)).toBe(180_000);
  });

  it('the step\'s own timeoutSeconds wins over both', () => {
    expect(waitTimeoutMs({ timeoutSeconds: 600 }, true, config)).toBe(600_000);
    expect(waitTimeoutMs({ timeoutSeconds: 30 }, false, config)).toBe(30_000);
  });
});
