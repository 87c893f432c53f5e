import { connect, type Socket } from 'node:net';

/**
 * A lean HTTP/1.1 client for load generators: keep-alive connections over raw sockets, one request in
 * flight a connection, requests beyond that wait for a free one (as node:http's Agent with maxSockets).
 * The load generator shares the machine with what it measures; node:http cost it about 0.2 ms of CPU a
 * request (a third of what the viability service itself spent), this a fraction of that: the request is
 * written as one string and the answer is only framed (status line and Content-Length), never parsed.
 * Answers must carry Content-Length (every JSON answer of the services does); a chunked one fails.
 */
export class HttpLoad {
  /** Free connections, the longest free first: each is reused before the server's keep-alive timeout. */
  private readonly idle: Connection[] = [];
  private readonly waiting: Array<() => void> = [];
  private readonly all = new Set<Connection>();
  private closed = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    connections: number,
  ) {
    for (let i = 0; i < connections; i++) this.idle.push(this.open());
  }

  private open(): Connection {
    const c = new Connection(connect({ host: this.host, port: this.port, noDelay: true }));
    this.all.add(c);
    return c;
  }

  /** A free connection; one the server closed meanwhile is replaced by a new one. */
  private async take(): Promise<Connection> {
    for (;;) {
      const c = this.idle.shift();
      if (c && !c.dead) return c;
      if (c) {
        this.all.delete(c);
        if (!this.closed) return this.open();
      }
      if (this.closed) throw new Error('the load generator is closed');
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  /** Sends one request; resolves with the answer's status code once its whole body has arrived. */
  async request(method: string, path: string, headers: Record<string, string>, body = ''): Promise<number> {
    const c = await this.take();
    let head = `${method} ${path} HTTP/1.1\r\nhost: ${this.host}:${this.port}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    try {
      return await c.send(`${head}\r\n${body}`);
    } finally {
      this.idle.push(c);
      this.waiting.shift()?.();
    }
  }

  close(): void {
    this.closed = true;
    for (const c of this.all) c.socket.destroy();
    for (const wake of this.waiting.splice(0)) wake();
  }
}

/** One keep-alive connection: one request at a time, its answer framed by Content-Length. */
class Connection {
  private buffered: Buffer = Buffer.alloc(0);
  private pending?: { resolve: (status: number) => void; reject: (err: Error) => void };
  private failure?: Error;

  /** The socket failed or was closed (by the server's keep-alive timeout, say). */
  get dead(): boolean {
    return this.failure !== undefined;
  }

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
      this.frame();
    });
    const fail = (err: Error) => {
      this.failure = err;
      this.pending?.reject(err);
      this.pending = undefined;
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('the connection closed')));
  }

  send(request: string): Promise<number> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.socket.write(request);
    });
  }

  /** Completes the pending request once its head and whole body are in. */
  private frame(): void {
    const end = this.buffered.indexOf('\r\n\r\n');
    if (end < 0 || !this.pending) return;
    const head = this.buffered.toString('latin1', 0, end);
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!length) {
      this.pending.reject(new Error(`an answer without Content-Length: ${head.split('\r\n')[0]}`));
      this.socket.destroy();
      return;
    }
    const total = end + 4 + Number(length[1]);
    if (this.buffered.length < total) return;
    const status = Number(head.slice(9, 12));
    this.buffered = this.buffered.subarray(total);
    const { resolve } = this.pending;
    this.pending = undefined;
    resolve(status);
  }
}

/**
 * Calls `fn` `rate` times a second for `seconds`, on schedule; latencies in ms, sorted. A latency counts
 * from when the request was due, not from when it went out: a generator that falls behind (its event
 * loop busy, the machine loaded) would otherwise leave the wait out of the figures (coordinated omission).
 * Never waits for answers before sending (open loop). `late` is how far behind schedule the sends went at
 * worst; `achieved` the calls a second over the whole run, answers included.
 */
export async function steadyLoad(
  rate: number,
  seconds: number,
  fn: (i: number) => Promise<unknown>,
): Promise<{ lat: number[]; bySecond: number[]; failed: number; achieved: number; late: number }> {
  const total = Math.ceil(rate * seconds);
  // Preallocated, and no promise kept per request: a generator that holds 20,000 promises and a growing
  // array promotes them all and pauses for its own GC (13 pauses over 5 ms in 20 s at 1,000/s), which
  // counted in the latencies it measured.
  const latencies = new Float64Array(total).fill(NaN);
  // The worst latency of the requests due in each second of the run: where in time the tail is.
  const bySecond = new Array<number>(Math.ceil(seconds)).fill(0);
  let failed = 0;
  let late = 0;
  let answered = 0;
  let allAnswered: () => void = () => {};
  const done = new Promise<void>((resolve) => (allAnswered = resolve));
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1_000) / rate;
    // Never early (a request sent before it was due would count less than it waited); a timer can fire
    // up to a millisecond before its time by performance.now(), hence the loop.
    for (let wait = due - performance.now(); wait > 0; wait = due - performance.now()) {
      await new Promise((r) => setTimeout(r, Math.max(1, wait)));
    }
    late = Math.max(late, performance.now() - due);
    fn(i).then(
      () => {
        const l = performance.now() - due;
        latencies[i] = l;
        const s = Math.floor(i / rate);
        bySecond[s] = Math.max(bySecond[s]!, l);
      },
      () => void failed++,
    ).finally(() => {
      if (++answered === total) allAnswered();
    });
  }
  if (answered < total) await done;
  const elapsed = (performance.now() - start) / 1_000;
  const lat = Array.from(latencies.filter((l) => !Number.isNaN(l))).sort((a, b) => a - b);
  return { lat, bySecond, failed, achieved: total / elapsed, late };
}
