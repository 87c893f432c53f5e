import type { RequestTemplate } from '@elo/templating';

/**
 * SMS provider presets: each turns a few account fields into the generic HTTP request template that
 * FindME sends (tokens {phone} E.164 with +, {phoneDigits} digits only, {link}, {text}). The account
 * fields are written into the template literally and the template is stored encrypted.
 */
export interface SmsPreset {
  name: string;
  description: string;
  /** account fields, each required unless listed in `optional` */
  fields: string[];
  optional?: string[];
  defaultBaseUrl: string;
  build(f: Record<string, string>, baseUrl: string): RequestTemplate;
}

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

export const SMS_PRESETS: Record<string, SmsPreset> = {
  twilio: {
    name: 'Twilio-style',
    description: 'Form POST to /2010-04-01/Accounts/{accountSid}/Messages.json, HTTP Basic with the account SID and auth token; To, From, Body',
    fields: ['accountSid', 'authToken', 'from'],
    defaultBaseUrl: 'https://api.twilio.com',
    build: (f, base) => ({
      method: 'POST',
      url: `${base}/2010-04-01/Accounts/${encodeURIComponent(f.accountSid!)}/Messages.json`,
      headers: [{ name: 'Authorization', value: basic(f.accountSid!, f.authToken!) }],
      body: { kind: 'form', pairs: [{ key: 'To', value: '{phone}' }, { key: 'From', value: f.from! }, { key: 'Body', value: '{text}' }] },
    }),
  },
  zenvia: {
    name: 'Zenvia-style',
    description: 'JSON POST to /v2/channels/sms/messages with the X-API-TOKEN header; {from, to (digits), contents: [{type: text, text}]}',
    fields: ['token', 'from'],
    defaultBaseUrl: 'https://api.zenvia.com',
    build: (f, base) => ({
      method: 'POST',
      url: `${base}/v2/channels/sms/messages`,
      headers: [{ name: 'X-API-TOKEN', value: f.token! }],
      body: {
        kind: 'keyvalue',
        pairs: [
          { key: 'from', value: f.from! },
          { key: 'to', value: '{phoneDigits}' },
          { key: 'contents[0][type]', value: 'text' },
          { key: 'contents[0][text]', value: '{text}' },
        ],
      },
    }),
  },
  vonage: {
    name: 'Vonage/Nexmo-style',
    description: 'Form POST to /sms/json with api_key, api_secret, from, to (digits), text',
    fields: ['apiKey', 'apiSecret', 'from'],
    defaultBaseUrl: 'https://rest.nexmo.com',
    build: (f, base) => ({
      method: 'POST',
      url: `${base}/sms/json`,
      body: {
        kind: 'form',
        pairs: [
          { key: 'api_key', value: f.apiKey! },
          { key: 'api_secret', value: f.apiSecret! },
          { key: 'from', value: f.from! },
          { key: 'to', value: '{phoneDigits}' },
          { key: 'text', value: '{text}' },
        ],
      },
    }),
  },
};

/** The template of a preset, or the reason the fields do not fit it. */
export function templateFromPreset(
  preset: string,
  fields: Record<string, string | undefined>,
  baseUrl?: string,
): RequestTemplate | string {
  const p = Object.prototype.hasOwnProperty.call(SMS_PRESETS, preset) ? SMS_PRESETS[preset] : undefined;
  if (!p) return `unknown preset; one of ${Object.keys(SMS_PRESETS).join(', ')}`;
  const f: Record<string, string> = {};
  for (const name of p.fields) {
    const v = fields[name];
    if (typeof v !== 'string' || !v.trim()) return `${name} is required for the ${preset} preset`;
    // Account fields are literal text inside the template: braces would read as tokens. A lone surrogate
    // cannot be put in a URL or a form (encodeURIComponent throws: a 500).
    if (/[{}\r\n]/.test(v)) return `${name} must not contain braces or line breaks`;
    if (/\p{Cs}/u.test(v)) return `${name} must not contain a lone surrogate (\\ud800 to \\udfff)`;
    f[name] = v.trim();
  }
  return p.build(f, (baseUrl ?? p.defaultBaseUrl).replace(/\/+$/, ''));
}
