/** The API key lives in sessionStorage only (gone when the tab closes; never in a URL). */
const KEY = 'elo.console.key';

export function storedKey(): string | undefined {
  return sessionStorage.getItem(KEY) ?? undefined;
}

export function storeKey(key: string): void {
  sessionStorage.setItem(KEY, key);
}

export function clearKey(): void {
  sessionStorage.removeItem(KEY);
}

/** An RFC 9457 problem body; `errors[].field` names the request field (`request.headers.0.name`). */
export interface Problem {
  status: number;
  title?: string;
  detail?: string;
  errors?: Array<{ field?: string; message: string }>;
}

export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title ?? `HTTP ${problem.status}`);
  }
  get status(): number {
    return this.problem.status;
  }
}

/** The services the console forwards to: `/api/<service>/…`. */
export type Service = 'chat-ingress' | 'viability' | 'telephony-bridge' | 'webhook-dispatcher' | 'message-status';

export interface RequestOptions {
  /** Sent as JSON unless it is a Blob, FormData or string (sent as is, with `contentType`). */
  body?: unknown;
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined | null>;
  signal?: AbortSignal;
}

export interface ApiClient {
  request<T = unknown>(service: Service, method: string, path: string, opts?: RequestOptions): Promise<T>;
  get<T = unknown>(service: Service, path: string, query?: RequestOptions['query']): Promise<T>;
  post<T = unknown>(service: Service, path: string, body?: unknown): Promise<T>;
  put<T = unknown>(service: Service, path: string, body?: unknown): Promise<T>;
  patch<T = unknown>(service: Service, path: string, body?: unknown): Promise<T>;
  del<T = unknown>(service: Service, path: string): Promise<T>;
  /** One page of a cursor-paginated listing: the body (an array) and the `X-Next-Cursor` header, if any. */
  page<T = unknown>(service: Service, path: string, query?: RequestOptions['query']): Promise<{ items: T[]; next?: string }>;
  /** A raw fetch with the key (streams, downloads); no error handling. */
  fetch(service: Service, path: string, init?: RequestInit): Promise<Response>;
}

function qs(query: RequestOptions['query']): string {
  if (!query) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

async function toProblem(res: Response): Promise<Problem> {
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return typeof parsed === 'object' && parsed
    ? { ...(parsed as Problem), status: res.status }
    : { status: res.status, detail: text.slice(0, 300) || res.statusText || `HTTP ${res.status}` };
}

/**
 * An API client bound to one key. A 401 calls `onUnauthorized` (the key was revoked or is wrong):
 * the app signs out and says why.
 */
export function createApi(key: string, onUnauthorized: (detail: string) => void = () => undefined): ApiClient {
  const raw = (service: Service, path: string, init: RequestInit = {}): Promise<Response> =>
    fetch(`/api/${service}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${key}`, accept: 'application/json', ...(init.headers as Record<string, string> | undefined) },
    });

  async function request<T>(service: Service, method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    return (await send<T>(service, method, path, opts)).body;
  }

  async function send<T>(service: Service, method: string, path: string, opts: RequestOptions = {}): Promise<{ body: T; headers: Headers }> {
    const headers: Record<string, string> = {};
    let body: BodyInit | undefined;
    if (opts.body !== undefined) {
      if (opts.body instanceof Blob || opts.body instanceof FormData || typeof opts.body === 'string') {
        body = opts.body;
        if (opts.contentType) headers['content-type'] = opts.contentType;
      } else {
        body = JSON.stringify(opts.body);
        headers['content-type'] = 'application/json';
      }
    }
    let res: Response;
    try {
      res = await raw(service, `${path}${qs(opts.query)}`, { method, headers, body, signal: opts.signal });
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      throw new ApiError({ status: 0, detail: `the console server did not answer (${(e as Error).message})` });
    }
    if (!res.ok) {
      const p = await toProblem(res);
      if (res.status === 401) onUnauthorized(p.detail ?? 'the API key is not valid any more');
      throw new ApiError(p);
    }
    const text = res.status === 204 ? '' : await res.text();
    const parsed = (!text ? undefined : res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as T;
    return { body: parsed, headers: res.headers };
  }

  return {
    request,
    get: (s, p, query) => request(s, 'GET', p, { query }),
    post: (s, p, body) => request(s, 'POST', p, { body }),
    put: (s, p, body) => request(s, 'PUT', p, { body }),
    patch: (s, p, body) => request(s, 'PATCH', p, { body }),
    del: (s, p) => request(s, 'DELETE', p),
    page: async <T>(s: Service, p: string, query?: RequestOptions['query']) => {
      const r = await send<T[]>(s, 'GET', p, { query });
      return { items: r.body ?? [], next: r.headers.get('x-next-cursor') ?? undefined };
    },
    fetch: raw,
  };
}
