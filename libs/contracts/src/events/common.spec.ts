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
});
