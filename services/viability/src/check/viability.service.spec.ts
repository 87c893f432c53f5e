import { MAX_CHAT_TEXT } from '@elo/contracts';
import { fillReply, inOrder } from './viability.service';

type Row = { part: 'in' | 'more' | 'pole'; n: number };
const rows = (...xs: Array<[Row['part'], number]>): Row[] => xs.map(([part, n]) => ({ part, n }));

describe('inOrder', () => {
  it('keeps rows already by part and nearest first as they are', () => {
    const r = rows(['in', 1], ['in', 2], ['more', 1], ['pole', 1], ['pole', 2]);
    expect(inOrder(r)).toBe(r);
    expect(inOrder(r)).toEqual(rows(['in', 1], ['in', 2], ['more', 1], ['pole', 1], ['pole', 2]));
  });

  it('sorts rows a plan yields otherwise, as ORDER BY part, n did', () => {
    expect(inOrder(rows(['more', 2], ['in', 2], ['pole', 1], ['more', 1], ['in', 1]))).toEqual(
      rows(['in', 1], ['in', 2], ['more', 1], ['more', 2], ['pole', 1]),
    );
    expect(inOrder([])).toEqual([]);
  });
});

describe('fillReply', () => {
  it('fills {box} and {distance} with the values as they are, $ patterns included', () => {
    expect(fillReply('Caixa {box} a {distance} m ({box})', { name: "CTO $& R$' 1$$", distanceMeters: 42.6 })).toBe("Caixa CTO $& R$' 1$$ a 43 m (CTO $& R$' 1$$)");
    expect(fillReply('Sem caixa: {box}{distance}.', undefined)).toBe('Sem caixa: .');
  });

  it('cuts a reply longer than a chat message holds (a 1,000-character template of {box} and a long box name), which the send event would refuse', () => {
    const reply = fillReply('{box}'.repeat(200), { name: 'Caixa '.repeat(50), distanceMeters: 10 });
    expect([reply.length, reply.endsWith('…')]).toEqual([MAX_CHAT_TEXT, true]);
  });
});
