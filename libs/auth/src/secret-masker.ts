const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\t': '&#9;', '\n': '&#10;', '\r': '&#13;' };

/**
 * Every form in which an outbound request can carry a secret value: as is, URL-encoded (path, query),
 * form-encoded, JSON-string and XML escaped (bodies), base64 (hand-made auth headers), and JSON as
 * other encoders escape it when an endpoint echoes it back.
 */
function encodedForms(v: string): string[] {
  const json = JSON.stringify(v).slice(1, -1);
  // What another JSON encoder echoes back: PHP's json_encode writes `/` as `\/` and non-ASCII as
  // `\u00e7` by default, Python's json.dumps the latter.
  const asciiJson = json.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const forms = [
    v,
    encodeURIComponent(v),
    new URLSearchParams([['', v]]).toString().slice(1),
    json,
    json.replace(/\//g, '\\/'),
    asciiJson,
    asciiJson.replace(/\//g, '\\/'),
    v.replace(/[&<>"'\t\n\r]/g, (c) => XML_ESCAPES[c]!),
    Buffer.from(v).toString('base64'),
    Buffer.from(v).toString('base64').replace(/=+$/, ''),
  ];
  return [...new Set(forms)];
}

/**
 * A function that replaces each secret value, in each of its encoded forms, with `••••`: for what an
 * outside system answered (an endpoint or a PBX echoing the request it got) before it is shown or logged.
 * Values shorter than 3 characters are left alone (they would mask ordinary text); a value with surrounding
 * whitespace is looked for trimmed as well.
 */
export function secretMasker(values: readonly string[]): (text: string) => string {
  // A value with surrounding whitespace is looked for trimmed too: a header carries it trimmed (`" abc123 "` as `abc123`).
  const trimmedToo = values.flatMap((v) => (v.trim() === v ? [v] : [v, v.trim()]));
  const forms = [...new Set(trimmedToo.filter((v) => v.length >= 3).flatMap(encodedForms))].sort((a, b) => b.length - a.length);
  return forms.length ? (text) => forms.reduce((t, f) => (t.includes(f) ? t.split(f).join('••••') : t), text) : (text) => text;
}
