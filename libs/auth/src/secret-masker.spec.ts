import { secretMasker } from './secret-masker';

describe('secretMasker', () => {
  it('masks a secret in each form a request carries it', () => {
    const secret = 'pa ss&"<word>';
    const mask = secretMasker([secret]);
    for (const form of [
      secret,
      encodeURIComponent(secret),
      new URLSearchParams([['', secret]]).toString().slice(1),
      JSON.stringify(secret),
      'pa ss&amp;&quot;&lt;word&gt;',
      Buffer.from(secret).toString('base64'),
    ]) {
      expect(mask(`echo: ${form}.`)).toBe(`echo: ${form.startsWith('"') ? '"••••"' : '••••'}.`);
    }
  });

  it('masks a secret echoed by a JSON encoder that escapes "/" or non-ASCII (PHP, Python)', () => {
    const mask = secretMasker(['tok/en+Ab9/Zz==', 'senha-ção-123']);
    // PHP json_encode's defaults: `/` as `\/`, non-ASCII as `\u00e7`; Python json.dumps escapes non-ASCII.
    expect(mask('{"token":"tok\\/en+Ab9\\/Zz=="}')).toBe('{"token":"••••"}');
    expect(mask('{"password":"senha-\\u00e7\\u00e3o-123"}')).toBe('{"password":"••••"}');
  });

  it('masks a secret with surrounding whitespace trimmed too (as a header carries it), and as given', () => {
    const mask = secretMasker([' abc123 ', 'xyz789\t']);
    expect(mask('X-Key: abc123; t=xyz789')).toBe('X-Key: ••••; t=••••');
    expect(mask('[ abc123 ]')).toBe('[••••]');
  });
});
