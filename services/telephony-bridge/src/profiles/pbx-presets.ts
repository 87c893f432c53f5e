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

export interface PresetDescription {
  id: Exclude<Preset, 'custom'>;
  title: string;
  description: string;
  /** Fields POST /pbx-profiles takes with this preset, besides name and allowedCidrs. */
  fields: Array<{ name: string; required: boolean; description: string }>;
  /** The templates the preset fills in, for the example base URL. */
  example: { baseUrl: string; click2call: Click2CallSpec; recording: RecordingSpec };
}

/** What GET /telephony/presets answers: each preset, what it needs and what it fills in. */
export function describePresets(): PresetDescription[] {
  const baseUrl = 'http://10.0.0.5:8088';
  return [
    {
      id: 'generic-http',
      title: 'Generic HTTP PBX',
      description:
        'GET {baseUrl}/click2call?ramal=&telefone=&chave= answers the call id as plain text (e.g. 1537276453.47245539); '
        + 'GET {baseUrl}/recordings/{callid}?telefone=&chave= answers the WAV.',
      fields: [
        { name: 'baseUrl', required: true, description: 'the PBX base URL, e.g. http://10.0.0.5:8080' },
        { name: 'chave', required: false, description: 'the PBX auth key, sent as {chave}' },
        { name: 'pbxHost', required: false, description: 'the PBX host when it is on a private network' },
      ],
      example: { baseUrl, ...presetTemplates('generic-http', baseUrl) },
    },
    {
      id: 'asterisk-ari',
      title: 'Asterisk ARI (originate)',
      description:
        'POST {baseUrl}/ari/channels?endpoint=PJSIP/{ramal}&extension={telefone}&context=… with basic auth (chave = user:password); '
        + 'the call id is the new channel id; the recording is GET {baseUrl}/ari/recordings/stored/{callid}/file.',
      fields: [
        { name: 'baseUrl', required: true, description: 'the ARI base URL, e.g. http://10.0.0.5:8088' },
        { name: 'chave', required: true, description: 'ARI user:password (basic auth)' },
        { name: 'ariContext', required: false, description: 'dialplan context (default from-internal)' },
        { name: 'ariEndpoint', required: false, description: 'endpoint template (default PJSIP/{ramal})' },
        { name: 'pbxHost', required: false, description: 'the PBX host when it is on a private network' },
      ],
      example: { baseUrl, ...presetTemplates('asterisk-ari', baseUrl) },
    },
  ];
}
