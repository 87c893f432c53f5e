import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A PBX that speaks Elo's generic HTTP PBX protocol (and the bit of Asterisk ARI Elo uses):
 *
 *   GET|POST /click2call?ramal=&telefone=&chave=   → the new call id, as plain text or JSON
 *   POST     /ari/channels?endpoint=&extension=    → an ARI channel ({ id, name, state, ... })
 *   GET      /recordings/{callid}?chave=           → a generated WAV (audio/wav, streamed)
 *   GET      /recording?callid=&chave=             → the same WAV
 *   GET      /ari/recordings/stored/{name}/file    → the same WAV
 *   POST     /_control  { ...SimulatorSettings }    → change behaviour at run time
 *   POST     /_control/push { kind, url, params, token?, method? } → push a callback to Elo
 *   GET      /_control/requests                     → what was received
 *
 * It can also be told to hang (timeout), to fail (HTTP error) or to serve something that is not a WAV.
 */
export interface SimulatorSettings {
  /** Click2Call answer: `1537276453.47245539` as text, or `{"status":"ok","data":{"call":{"id":"…"}}}`. */
  answer: 'text' | 'json';
  /** Click2Call behaviour. */
  click2call: 'ok' | 'timeout' | 'error';
  /** Recording behaviour: a WAV, an HTML error page with 200, an HTTP error, or no answer. */
  recording: 'wav' | 'not-wav' | 'error' | 'timeout';
  /** Status and body used for 'error'. */
  errorStatus: number;
  errorBody: string;
  /** Size of the generated WAV in bytes (header included). */
  wavBytes: number;
  /** Send the WAV chunked, without content-length (its size shows only as it streams). */
  chunked?: boolean;
  /** When set, requests must carry it (query `chave`, form/JSON `chave`, or basic-auth password). */
  chave?: string;
}

export interface PbxSimulatorOptions extends Partial<SimulatorSettings> {
  port?: number;
  host?: string;
  /** Same as `answer`: how Click2Call answers the call id. */
  callIdFormat?: 'text' | 'json';
  /** Same as `click2call`: answer, hang (timeout) or fail with `errorStatus`. */
  mode?: 'ok' | 'timeout' | 'error';
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  at: number;
}

export interface PushOptions {
  /** GET with a query string (default) or POST with a JSON body. */
  method?: 'GET' | 'POST';
  /** Sent as the x-callback-token header. */
  token?: string;
}

export interface PbxSimulator {
  readonly url: string;
  readonly port: number;
  readonly settings: SimulatorSettings;
  readonly requests: RecordedRequest[];
  /** Counters: WAV bytes handed to sockets so far (shows backpressure from a slow reader). */
  readonly stats: { wavBytesSent: number };
  configure(s: Partial<SimulatorSettings>): void;
  /** A fresh Asterisk-style call id (`<epoch seconds>.<counter>`). */
  nextCallId(): string;
  /** Pushes a call-answered callback to `<callbackBase>/answered`, e.g. `http://elo:3003/telephony/<profileId>`. */
  pushAnswered(callbackBase: string, params: Record<string, string | number>, opts?: PushOptions): Promise<{ status: number; body: string }>;
  /** Pushes a call-ended callback to `<callbackBase>/ended`. */
  pushEnded(callbackBase: string, params: Record<string, string | number>, opts?: PushOptions): Promise<{ status: number; body: string }>;
  close(): Promise<void>;
}

export const DEFAULT_SETTINGS: SimulatorSettings = {
  answer: 'text',
  click2call: 'ok',
  recording: 'wav',
  errorStatus: 500,
  errorBody: 'PBX internal error: no trunk available',
  wavBytes: 64 * 1024,
};

const CALL_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const SAMPLE_RATE = 8000;

/** A RIFF/WAVE header for 16-bit mono PCM with `dataBytes` of samples. */
export function wavHeader(dataBytes: number): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVE', 8, 'latin1');
  h.write('fmt ', 12, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(SAMPLE_RATE, 24);
  h.writeUInt32LE(SAMPLE_RATE * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

// 64 KiB of a 440 Hz tone, reused for every chunk.
const TONE = (() => {
  const b = Buffer.alloc(64 * 1024);
  for (let i = 0; i < b.length / 2; i++) b.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / SAMPLE_RATE)), i * 2);
  return b;
})();

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function params(rec: RecordedRequest): Record<string, string> {
  const out: Record<string, string> = { ...rec.query };
  const type = String(rec.headers['content-type'] ?? '');
  if (rec.body && type.includes('application/json')) {
    try {
      for (const [k, v] of Object.entries(JSON.parse(rec.body) as Record<string, unknown>)) out[k] = String(v);
    } catch {
      /* not JSON: ignored */
    }
  } else if (rec.body && type.includes('application/x-www-form-urlencoded')) {
    for (const [k, v] of new URLSearchParams(rec.body)) out[k] = v;
  }
  return out;
}

function basicPassword(h: string | string[] | undefined): string | undefined {
  const m = typeof h === 'string' ? /^Basic\s+(\S+)$/i.exec(h) : null;
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  return decoded.includes(':') ? decoded : undefined;
}

export async function startPbxSimulator(opts: PbxSimulatorOptions = {}): Promise<PbxSimulator> {
  const { port = 0, host = '127.0.0.1', callIdFormat, mode, ...rest } = opts;
  const settings: SimulatorSettings = {
    ...DEFAULT_SETTINGS,
    ...(callIdFormat ? { answer: callIdFormat } : {}),
    ...(mode ? { click2call: mode } : {}),
    ...rest,
  };
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const stats = { wavBytesSent: 0 };
  let counter = 47245539;
  const nextCallId = () => `${Math.floor(Date.now() / 1000)}.${counter++}`;

  const send = (res: ServerResponse, status: number, type: string, body: string) => {
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  const authorised = (rec: RecordedRequest, p: Record<string, string>): boolean => {
    if (settings.chave === undefined) return true;
    const basic = basicPassword(rec.headers.authorization);
    return p.chave === settings.chave || basic === settings.chave || basic?.split(':').slice(1).join(':') === settings.chave;
  };

  async function streamWav(res: ServerResponse, total: number): Promise<void> {
    const dataBytes = Math.max(0, total - 44);
    res.writeHead(200, settings.chunked ? { 'content-type': 'audio/wav' } : { 'content-type': 'audio/wav', 'content-length': 44 + dataBytes });
    const write = (b: Buffer) => {
      stats.wavBytesSent += b.length;
      return res.write(b) ? Promise.resolve() : new Promise<void>((r) => res.once('drain', r));
    };
    await write(wavHeader(dataBytes));
    let left = dataBytes;
    while (left > 0 && !res.destroyed) {
      const n = Math.min(left, TONE.length);
      await write(n === TONE.length ? TONE : TONE.subarray(0, n));
      left -= n;
    }
    res.end();
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://pbx');
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body: await readBody(req),
      at: Date.now(),
    };
    if (!url.pathname.startsWith('/_control')) requests.push(rec);
    const p = params(rec);

    if (url.pathname === '/_control' && rec.method === 'POST') {
      Object.assign(settings, JSON.parse(rec.body || '{}') as Partial<SimulatorSettings>);
      return send(res, 200, 'application/json', JSON.stringify(settings));
    }
    if (url.pathname === '/_control/requests') return send(res, 200, 'application/json', JSON.stringify(requests));
    if (url.pathname === '/_control/push' && rec.method === 'POST') {
      const b = JSON.parse(rec.body || '{}') as { kind: 'answered' | 'ended'; url: string; params: Record<string, string>; token?: string; method?: 'GET' | 'POST' };
      const r = await push(b.url, b.kind, b.params ?? {}, { token: b.token, method: b.method });
      return send(res, 200, 'application/json', JSON.stringify(r));
    }

    const isClick2Call = url.pathname === '/click2call' || (url.pathname === '/ari/channels' && rec.method === 'POST');
    const wav = /^\/recordings\/([^/]+)$/.exec(url.pathname)
      ?? /^\/ari\/recordings\/stored\/([^/]+)\/file$/.exec(url.pathname)
      ?? (url.pathname === '/recording' ? ['', encodeURIComponent(p.callid ?? '')] : null);
    if (!isClick2Call && !wav) return send(res, 404, 'text/plain', 'no such PBX route');
    if (!authorised(rec, p)) return send(res, 401, 'text/plain', 'invalid chave');

    if (isClick2Call) {
      if (settings.click2call === 'timeout') return; // never answers; closed with the server
      if (settings.click2call === 'error') return send(res, settings.errorStatus, 'text/plain', settings.errorBody);
      const ari = url.pathname === '/ari/channels';
      const ramal = ari ? (p.endpoint ?? '').replace(/^[A-Z]+\//, '') : p.ramal;
      const telefone = ari ? p.extension : p.telefone;
      if (!ramal || !telefone) return send(res, 400, 'text/plain', 'ramal and telefone are required');
      const id = nextCallId();
      if (ari) {
        return send(res, 200, 'application/json', JSON.stringify({
          id, name: `PJSIP/${ramal}-00000001`, state: 'Down', caller: { name: '', number: telefone },
          connected: { name: '', number: '' }, dialplan: { context: p.context ?? 'default', exten: telefone, priority: 1 },
          creationtime: new Date().toISOString(), language: 'pt_BR',
        }));
      }
      if (settings.answer === 'json') return send(res, 200, 'application/json', JSON.stringify({ status: 'ok', data: { call: { id } } }));
      return send(res, 200, 'text/plain', id);
    }

    const callId = decodeURIComponent(wav![1]);
    if (!CALL_ID_RE.test(callId)) return send(res, 404, 'text/plain', 'no such recording');
    switch (settings.recording) {
      case 'timeout':
        return;
      case 'error':
        return send(res, settings.errorStatus, 'text/plain', settings.errorBody);
      case 'not-wav':
        return send(res, 200, 'text/html', '<html><body>Recording not found</body></html>');
      default: {
        const bytes = Number(rec.query.bytes) > 0 ? Number(rec.query.bytes) : settings.wavBytes;
        return streamWav(res, bytes);
      }
    }
  }

  async function push(
    base: string, kind: 'answered' | 'ended', values: Record<string, string | number>, o: PushOptions = {},
  ): Promise<{ status: number; body: string }> {
    const method = o.method ?? 'GET';
    const headers: Record<string, string> = o.token ? { 'x-callback-token': o.token } : {};
    let target = `${base.replace(/\/+$/, '')}/${kind}`;
    let body: string | undefined;
    if (method === 'GET') {
      target += `?${new URLSearchParams(Object.entries(values).map(([k, v]): [string, string] => [k, String(v)])).toString()}`;
    } else {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(values);
    }
    const res = await fetch(target, { method, headers, body });
    return { status: res.status, body: await res.text() };
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) send(res, 500, 'text/plain', `simulator error: ${err.message}`);
      else res.destroy();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const actual = (server.address() as AddressInfo).port;

  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}`,
    port: actual,
    settings,
    requests,
    stats,
    configure: (s) => Object.assign(settings, s),
    nextCallId,
    pushAnswered: (base, values, o) => push(base, 'answered', values, o),
    pushEnded: (base, values, o) => push(base, 'ended', values, o),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
