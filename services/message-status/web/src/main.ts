import { canReport } from '../../src/tracking/status-rules';
import { drawChart, STATUS_COLOURS, type Bucket } from './chart';
import { readSse } from './sse';

const KEY = 'elo.message-status.apiKey';
const STATES = ['queued', 'sent', 'delivered', 'read', 'failed'] as const;
const RANGES: Record<string, { ms: number; bucket: 'minute' | 'hour' | 'day'; stepMs: number }> = {
  '15m': { ms: 15 * 60_000, bucket: 'minute', stepMs: 60_000 },
  '1h': { ms: 3_600_000, bucket: 'minute', stepMs: 60_000 },
  '24h': { ms: 86_400_000, bucket: 'hour', stepMs: 3_600_000 },
  '7d': { ms: 7 * 86_400_000, bucket: 'day', stepMs: 86_400_000 },
};

interface StatusCount { channelId: string | null; provider: string | null; status: string; count: number }
interface FailureGroup {
  kind: string; reason: string; count: number; retryable: boolean | null; retryableCount: number | null;
  latest: Array<{ id: string; channelId: string | null; provider: string | null; code: string | null; title: string | null; at: string }>;
}
interface TimelineEntry {
  status: string; source: string; providerTimestamp: string; receivedAt: string; reportable: boolean; applied: boolean;
  errorCode: string | null; errorTitle: string | null; errorDetails: string | null; reason: string | null;
}
interface MessageDetail {
  id: string; status: string; provider: string | null; channelId: string | null; statusAt: string;
  failure: { reason: string; retryable: boolean; code: string | null; title: string | null; details: string | null } | null; timeline: TimelineEntry[];
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const el = <K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...kids: Array<Node | string>) => {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...kids);
  return e;
};

class AuthError extends Error {}

const apiKey = () => sessionStorage.getItem(KEY);
const headers = (): Record<string, string> => ({ authorization: `Bearer ${apiKey() ?? ''}`, 'x-api-key': apiKey() ?? '' });

async function api<T>(path: string, params: Record<string, string | undefined> = {}): Promise<T> {
  const q = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => !!e[1]));
  const res = await fetch(`${path}${q.size ? `?${q}` : ''}`, { headers: headers() });
  if (res.status === 401 || res.status === 403) throw new AuthError((await res.json().catch(() => ({})) as { detail?: string }).detail ?? 'the key was refused');
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

function filters() {
  const range = RANGES[$<HTMLSelectElement>('f-range').value] ?? RANGES['1h'];
  const to = new Date();
  const from = new Date(to.getTime() - range.ms);
  return { range, from, to, channelId: $<HTMLSelectElement>('f-channel').value || undefined };
}

const channelLabel = (c: { channelId: string | null; provider: string | null }) =>
  `${c.provider ?? 'unknown'} · ${c.channelId ? c.channelId.slice(0, 8) : 'no channel'}`;

let previous = new Map<string, number>();

function renderCounters(totals: StatusCount[]): void {
  const channels = new Map<string, { channelId: string | null; provider: string | null; counts: Record<string, number> }>();
  const sums: Record<string, number> = {};
  for (const t of totals) {
    const k = t.channelId ?? '-';
    const row = channels.get(k) ?? { channelId: t.channelId, provider: t.provider, counts: {} };
    row.counts[t.status] = (row.counts[t.status] ?? 0) + t.count;
    channels.set(k, row);
    sums[t.status] = (sums[t.status] ?? 0) + t.count;
  }
  const next = new Map<string, number>();
  const cell = (id: string, n: number) => {
    next.set(id, n);
    const td = el('td', { textContent: String(n) });
    td.dataset.testid = id;
    if (previous.has(id) && previous.get(id) !== n) td.className = 'bump';
    return td;
  };
  // A state the channel cannot report (Instagram has no delivered, Telegram neither delivered nor read).
  const notApplicable = (id: string) => {
    const td = el('td', { className: 'na', textContent: 'n/a', title: 'this channel cannot report this state' });
    td.dataset.testid = id;
    return td;
  };
  const body = $('counters').querySelector('tbody')!;
  body.replaceChildren(
    ...[...channels.values()].map((c) =>
      el('tr', {}, el('td', { textContent: channelLabel(c) }), ...STATES.map((s) => {
        const id = `count-${c.channelId ?? 'none'}-${s}`;
        return c.provider && !canReport(c.provider, s) ? notApplicable(id) : cell(id, c.counts[s] ?? 0);
      })),
    ),
  );
  $('counters').querySelector('tfoot')!.replaceChildren(el('tr', {}, el('td', { textContent: 'all' }), ...STATES.map((s) => cell(`total-${s}`, sums[s] ?? 0))));
  previous = next;
  const select = $<HTMLSelectElement>('f-channel');
  for (const c of channels.values()) {
    if (c.channelId && !select.querySelector(`option[value="${c.channelId}"]`)) {
      select.append(el('option', { value: c.channelId, textContent: channelLabel(c) }));
    }
  }
}

function retryability(g: FailureGroup): string {
  if (g.kind === 'integration') return ' integration';
  if (g.retryable) return ' retryable';
  return g.retryableCount ? ` ${g.retryableCount} of ${g.count} retryable` : ' not retryable';
}

function renderFailures(groups: FailureGroup[]): void {
  const box = $('failures');
  if (groups.length === 0) {
    box.replaceChildren(el('p', { className: 'muted', textContent: 'No failures in this range.' }));
    return;
  }
  box.replaceChildren(
    ...groups.map((g) => {
      const b = el('button', { className: 'failure', type: 'button' },
        el('strong', { textContent: g.reason }),
        el('span', { className: 'count', textContent: String(g.count) }),
        el('span', { className: 'muted', textContent: retryability(g) }),
      );
      b.dataset.reason = g.reason;
      b.addEventListener('click', () => void drill(g));
      return b;
    }),
  );
}

/**
 * Clicks on a failure group and on one of its messages, counted: an answer is drawn only if no later click of the
 * same kind came meanwhile. Two groups clicked quickly answered in any order, and the first group's examples could be
 * drawn under the second one's title (and a timeline asked for before under the group clicked after).
 */
let drillClicks = 0;
let timelineClicks = 0;

async function drill(g: FailureGroup): Promise<void> {
  const click = ++drillClicks;
  $('drill').hidden = false;
  $('drill-title').textContent = `${g.reason} (${g.count})`;
  $('timeline').replaceChildren();
  let latest = g.latest;
  if (g.kind === 'message') {
    // More of the group's latest failures, by when they failed (as the board counts them).
    const f = filters();
    const more = await api<{ groups: FailureGroup[] }>('/failures', { channelId: f.channelId, from: f.from.toISOString(), examples: '20' });
    if (click !== drillClicks) return;
    latest = more.groups.find((x) => x.kind === g.kind && x.reason === g.reason)?.latest ?? latest;
  }
  const items = latest.map((l) => ({ id: l.id, label: `${l.id.slice(0, 8)} ${l.provider ?? ''} ${l.code ?? ''} ${l.title ?? ''}` }));
  $('drill-list').replaceChildren(
    ...items.map((i) => {
      const b = el('button', { type: 'button', textContent: i.label });
      if (g.kind === 'message') b.addEventListener('click', () => void showTimeline(i.id));
      return el('li', {}, b);
    }),
  );
}

async function showTimeline(id: string): Promise<void> {
  const click = ++timelineClicks;
  const group = drillClicks;
  const m = await api<MessageDetail>(`/messages/${id}`);
  if (click !== timelineClicks || group !== drillClicks) return;
  const fail = m.failure ? ` — ${m.failure.reason} (code ${m.failure.code ?? '?'}: ${m.failure.title ?? ''})` : '';
  $('timeline').replaceChildren(
    el('p', {}, el('strong', { textContent: m.id }), ` is ${m.status}${fail}`),
    ...(m.failure?.details ? [el('p', { className: 'details', textContent: m.failure.details })] : []),
    el('table', {},
      el('tr', {}, ...['provider time', 'status', 'source', 'received', 'note'].map((h) => el('th', { textContent: h }))),
      ...m.timeline.map((e) => {
        const note = !e.reportable ? 'channel cannot report this' : e.applied ? 'moved the status' : 'kept (no move)';
        const error = [e.reason, e.errorCode, e.errorTitle, e.errorDetails].filter(Boolean).join(' ');
        const tr = el('tr', {}, ...[e.providerTimestamp, e.status, e.source, e.receivedAt, `${note}${error ? ` · ${error}` : ''}`].map((t) => el('td', { textContent: t })));
        if (!e.reportable) tr.className = 'hidden-state';
        return tr;
      }),
    ),
  );
}

async function refresh(): Promise<void> {
  const f = filters();
  const common = { channelId: f.channelId, from: f.from.toISOString() };
  const [stats, failures] = await Promise.all([
    api<{ totals: StatusCount[]; buckets: Bucket[] }>('/stats', { ...common, bucket: f.range.bucket }),
    api<{ groups: FailureGroup[] }>('/failures', common),
  ]);
  renderCounters(stats.totals);
  drawChart($<HTMLCanvasElement>('chart'), stats.buckets, f.from, f.to, f.range.stepMs);
  renderFailures(failures.groups);
  $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
}

let reading = false;
let readAgain = false;
/**
 * Reads the board, one read at a time: reads started while one was in flight answered in any order, and one that
 * answered late was drawn over the newer answer and stayed (counts of before, a channel no longer chosen). Asked
 * for meanwhile, the board is read once more when the read in flight is done.
 */
function reread(): void {
  if (reading) {
    readAgain = true;
    return;
  }
  reading = true;
  refresh().catch(onError).finally(() => {
    reading = false;
    if (readAgain) {
      readAgain = false;
      reread();
    }
  });
}

let pending: ReturnType<typeof setTimeout> | undefined;
function refreshSoon(): void {
  pending ??= setTimeout(() => {
    pending = undefined;
    reread();
  }, 250);
}

function setState(state: 'live' | 'reconnecting' | 'stale' | 'off', text: string): void {
  const s = $('stream-state');
  s.dataset.state = state;
  s.textContent = text;
}

let streamAbort: AbortController | undefined;
async function stream(): Promise<void> {
  let wait = 1_000;
  streamAbort = new AbortController();
  const signal = streamAbort.signal;
  while (!signal.aborted) {
    try {
      const res = await fetch('/stream', { headers: { ...headers(), accept: 'text/event-stream' }, signal });
      if (res.status === 401 || res.status === 403) throw new AuthError('the key was refused');
      if (!res.ok) throw new Error(`stream: HTTP ${res.status}`);
      wait = 1_000;
      await readSse(res, (e) => {
        if (e.event === 'ready' || e.event === 'state') {
          // The server lost its feed of changes: what happens now is not streamed until it says `live`
          // again, and then what was missed is read again.
          const live = (JSON.parse(e.data) as { live?: boolean }).live !== false;
          if (live) setState('live', 'live');
          else setState('stale', 'not live: the server is reconnecting…');
          if (live) refreshSoon();
        } else if (e.event === 'status' || e.event === 'integration_failure') refreshSoon();
      }, signal);
    } catch (err) {
      if (err instanceof AuthError) return onError(err);
      if (signal.aborted) return;
    }
    if (signal.aborted) return;
    setState('reconnecting', 'reconnecting…');
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 10_000);
  }
}

function onError(err: unknown): void {
  if (err instanceof AuthError) {
    signOut(err.message);
    return;
  }
  $('updated').textContent = `could not refresh: ${(err as Error).message}`;
}

function signOut(message = ''): void {
  streamAbort?.abort();
  sessionStorage.removeItem(KEY);
  $('app').hidden = true;
  $('sign-out').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
  setState('off', 'offline');
}

function start(): void {
  $('login').hidden = true;
  $('app').hidden = false;
  $('sign-out').hidden = false;
  setState('reconnecting', 'connecting…');
  reread();
  void stream();
}

$('legend').append(...Object.entries(STATUS_COLOURS).map(([s, c]) => el('span', {}, Object.assign(el('i'), { style: `background:${c}` }), s)));
$('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY, $<HTMLInputElement>('api-key').value.trim());
  $<HTMLInputElement>('api-key').value = '';
  start();
});
$('sign-out').addEventListener('click', () => signOut());
$('f-channel').addEventListener('change', reread);
$('f-range').addEventListener('change', reread);
if (apiKey()) start();
else signOut();
