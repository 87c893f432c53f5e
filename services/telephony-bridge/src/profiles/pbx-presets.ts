import type { RequestTemplate } from '@elo/templating';

/** How the call id is read from the PBX's Click2Call answer. */
export type CallIdSource = { from: 'text' } | { from: 'json'; path: string };

export interface Click2CallSpec {
  request: RequestTemplate;
  callId: CallIdSource;
}

export interface RecordingSpec {
  request: RequestTemplate;
}

export const PRESETS = ['generic-http', 'asterisk-ari', 'custom'] as const;
export type Preset = (typeof PRESETS)[number];

/**
 * Ready-made request templates.
 * - generic-http: the plain HTTP PBX protocol (`GET <base>/click2call?ramal=&telefone=&chave=`,
 *   answer = the call id as plain text; `GET <base>/recordings/<callid>?telefone=&chave=`, answer = WAV).
 * - asterisk-ari: `POST <base>/ari/channels` (originate, basic auth with `chave` = `user:password`),
 *   call id = the new channel's `id`; recording = `GET <base>/ari/recordings/stored/<callid>/file`.
 */
export function presetTemplates(
  preset: Exclude<Preset, 'custom'>,
  baseUrl: string,
  opts: { ariContext?: string; ariEndpoint?: string } = {},
): { click2call: Click2CallSpec; recording: RecordingSpec } {
  const base = baseUrl.replace(/\/+$/, '');
  if (preset === 'generic-http') {
    return {
      click2call: {
        request: {
          method: 'GET',
          url: `${base}/click2call`,
          query: [
            { key: 'ramal', value: '{ramal}' },
            { key: 'telefone', value: '{telefone}' },
            { key: 'chave', value: '{chave}' },
          ],
        },
        callId: { from: 'text' },
      },
      recording: {
        request: {
          method: 'GET',
          url: `${base}/recordings/{callid}`,
          query: [
            { key: 'telefone', value: '{telefone}' },
            { key: 'chave', value: '{chave}' },
          ],
        },
      },
    };
  }
  const auth = [{ name: 'Authorization', value: 'Basic {chaveBase64}' }];
  return {
    click2call: {
      request: {
        method: 'POST',
        url: `${base}/ari/channels`,
        headers: auth,
        query: [
          { key: 'endpoint', value: opts.ariEndpoint ?? 'PJSIP/{ramal}' },
          { key: 'extension', value: '{telefone}' },
          { key: 'context', value: opts.ariContext ?? 'from-internal' },
          { key: 'priority', value: '1' },
          { key: 'callerId', value: '{telefone}' },
        ],
      },
      callId: { from: 'json', path: 'id' },
    },
    recording: {
      request: { method: 'GET', url: `${base}/ari/recordings/stored/{callid}/file`, headers: auth },
    },
  };
}
