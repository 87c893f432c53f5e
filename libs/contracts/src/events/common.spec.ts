import { fitChatText, MAX_CHAT_TEXT } from './common';

describe('fitChatText', () => {
  it('keeps a text that fits, cuts a longer one to a chat message ending in …, never inside an emoji', () => {
    const fits = 'a'.repeat(MAX_CHAT_TEXT);
    expect(fitChatText(fits)).toBe(fits);
    const cut = fitChatText('b'.repeat(MAX_CHAT_TEXT + 10));
    expect(cut).toHaveLength(MAX_CHAT_TEXT);
    expect(cut.endsWith('b…')).toBe(true);
    // The emoji's first half would be the last character kept: it goes whole.
    const emoji = fitChatText(`${'c'.repeat(MAX_CHAT_TEXT - 2)}😀${'d'.repeat(10)}`);
    expect(emoji).toBe(`${'c'.repeat(MAX_CHAT_TEXT - 2)}…`);
    expect(emoji.length).toBeLessThanOrEqual(MAX_CHAT_TEXT);
  });

  it('cuts to a channel\'s own, smaller limit when given one', () => {
    expect(fitChatText('e'.repeat(2_000), 2_000)).toHaveLength(2_000);
    expect(fitChatText('e'.repeat(2_500), 2_000)).toBe(`${'e'.repeat(1_999)}…`);
    expect(fitChatText(`${'f'.repeat(998)}😀g`, 1_000)).toBe(`${'f'.repeat(998)}…`);
  });
});
