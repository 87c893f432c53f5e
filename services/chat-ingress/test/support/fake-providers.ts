import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
  /** The body as sent (signatures are over these bytes). */
  raw: string;
}

/**
 * An answer; `delayMs` holds it back that long (a provider that takes its time to answer), `until` until the
 * promise settles (the test decides when the provider answers).
 */
export type Responder = (r: Recorded) => { status: number; body: unknown; headers?: Record<string, string>; delayMs?: number; until?: Promise<unknown> } | undefined;

/**
 * One local HTTP server faking the providers' send APIs: Graph (`/graph/...`: WhatsApp Cloud
 * `/{phone-number-id}/messages`, Messenger/Instagram `/me/messages`, token endpoints) and Telegram
 * (`/tg/bot<token>/<method>`). Records every request; `respond` overrides answers per test.
 */
export class FakeProviders {
  readonly requests: Recorded[] = [];
  private responders: Responder[] = [];
  private seq = 0;
  private constructor(private readonly server: Server, readonly port: number) {}

  static async start(): Promise<FakeProviders> {
    const ref: { self?: FakeProviders } = {};
    const server = createServer((req, res) => void ref.self!.handle(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    ref.self = new FakeProviders(server, (server.address() as AddressInfo).port);
    return ref.self;
  }

  get graph(): string {
    return `http://127.0.0.1:${this.port}/graph`;
  }
  get telegram(): string {
    return `http://127.0.0.1:${this.port}/tg`;
  }
  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  respond(fn: Responder): void {
    this.responders.unshift(fn);
  }
  reset(): void {
    this.responders = [];
  }
  sent(pathPart: string): Recorded[] {
    return this.requests.filter((r) => r.path.includes(pathPart));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: Record<string, unknown>;
    try {
      body = chunks.length ? (JSON.parse(raw) as Record<string, unknown>) : {};
    } catch {
      body = { raw };
    }
    const rec: Recorded = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body, raw };
    this.requests.push(rec);
    const answer = this.responders.map((f) => f(rec)).find(Boolean) ?? this.default(rec);
    if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
    if (answer.until) await answer.until;
    res.writeHead(answer.status, { 'content-type': 'application/json', ...(answer.headers ?? {}) });
    res.end(JSON.stringify(answer.body));
  }

  private default(r: Recorded): ReturnType<Responder> & object {
    const n = ++this.seq;
    if (r.path.startsWith('/graph/') && r.path.endsWith('/me/messages')) return { status: 200, body: { recipient_id: (r.body.recipient as { id?: string })?.id, message_id: `m_OUT${n}` } };
    if (r.path.startsWith('/graph/') && r.path.endsWith('/messages')) return { status: 200, body: { messaging_product: 'whatsapp', contacts: [{ input: r.body.to, wa_id: r.body.to }], messages: [{ id: `wamid.OUT${n}` }] } };
    if (r.path.startsWith('/graph/oauth/access_token')) return { status: 200, body: { access_token: `refreshed-${n}`, token_type: 'bearer', expires_in: 60 * 86400 } };
    if (r.path.startsWith('/graph/debug_token')) return { status: 200, body: { data: { is_valid: true, expires_at: Math.floor(Date.now() / 1000) + 60 * 86400 } } };
    if (r.path === '/graph/me') return { status: 200, body: { id: '1', name: 'page' } };
    const tg = /^\/tg\/bot[^/]+\/(\w+)/.exec(r.path);
    if (tg) {
      if (tg[1] === 'getMe') return { status: 200, body: { ok: true, result: { id: 1, is_bot: true, username: 'elo_bot' } } };
      return { status: 200, body: { ok: true, result: { message_id: 1000 + n, chat: { id: Number(r.body.chat_id) }, date: Math.floor(Date.now() / 1000) } } };
    }
    if (r.method === 'HEAD') return { status: 200, body: '' };
    return { status: 404, body: { error: 'no such fake route' } };
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
