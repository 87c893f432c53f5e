// Operator screen: sign in with an API key (kept in sessionStorage), subscribe to the extension's
// screen pops (Server-Sent Events read with fetch streaming, the key in the Authorization header,
// never in a URL), and start Click2Call calls.

interface Pop {
  ramal: string;
  callId: string;
  profileId: string;
  telefone?: string;
  contactId?: string;
  empresaId?: string;
  answeredAt: string;
}

interface Ended {
  ramal: string;
  callId: string;
  durationSeconds?: number;
  disposition?: string;
  /** Set when another extension answered the call (a transfer): it is no longer this screen's. */
  transferredTo?: string;
  endedAt: string;
}

const KEY = 'elo.operator.key';
const RAMAL = 'elo.operator.ramal';
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

let stream: AbortController | undefined;
let retry: number | undefined;

function setState(state: 'off' | 'live' | 'reconnecting', text: string): void {
  const el = $('stream-state');
  el.dataset.state = state;
  el.textContent = text;
}

function formatPhone(p?: string): string {
  if (!p) return '—';
  const m = /^(\d{2})(\d{4,5})(\d{4})$/.exec(p);
  return m ? `(${m[1]}) ${m[2]}-${m[3]}` : p;
}

async function api(path: string, init: RequestInit = {}): Promise<Response> {
  const key = sessionStorage.getItem(KEY) ?? '';
  return fetch(path, { ...init, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });
}

async function problemText(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { detail?: string; title?: string };
    return body.detail ?? body.title ?? `HTTP ${res.status}`;
  } catch {
    return `HTTP ${res.status}`;
  }
}

function showPop(pop: Pop): void {
  // On reconnecting, the stream shows the call in progress again: one history line a call.
  const shown = $('pop').dataset.callId === pop.callId;
  $('pop-empty').hidden = true;
  $('pop-card').hidden = false;
  $('pop').dataset.state = 'ringing';
  $('pop').dataset.callId = pop.callId;
  $('pop-phone').textContent = formatPhone(pop.telefone);
  $('pop-contact').textContent = pop.contactId ?? '—';
  $('pop-empresa').textContent = pop.empresaId ?? '—';
  $('pop-callid').textContent = pop.callId;
  $('pop-time').textContent = new Date(pop.answeredAt).toLocaleTimeString();
  $('pop-status').textContent = 'in progress';
  if (pop.telefone) $<HTMLInputElement>('c2c-telefone').value = pop.telefone;
  if (shown) return;
  const li = document.createElement('li');
  li.textContent = `${new Date(pop.answeredAt).toLocaleTimeString()} · ${formatPhone(pop.telefone)} · contact ${pop.contactId ?? '—'} · ${pop.callId}`;
  $('history').prepend(li);
}

function showEnded(e: Ended): void {
  if ($('pop').dataset.callId !== e.callId) return;
  $('pop').dataset.state = 'ended';
  const d = e.durationSeconds;
  const duration = d === undefined ? '' : ` after ${Math.floor(d / 60)}:${String(d % 60).padStart(2, '0')}`;
  $('pop-status').textContent = e.transferredTo
    ? `transferred to ${e.transferredTo}`
    : `ended${duration}${e.disposition ? ` (${e.disposition})` : ''}`;
}

function signOut(message = ''): void {
  stream?.abort();
  stream = undefined;
  if (retry) window.clearTimeout(retry);
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(RAMAL);
  $('app').hidden = true;
  $('sign-out').hidden = true;
  $('login').hidden = false;
  $('who').textContent = '';
  $('login-error').textContent = message;
  setState('off', 'offline');
}

async function connect(): Promise<void> {
  const ramal = sessionStorage.getItem(RAMAL) ?? '';
  stream?.abort();
  const ctrl = new AbortController();
  stream = ctrl;
  let res: Response;
  try {
    // fetch, not EventSource: the API key travels in the Authorization header, never in a URL.
    res = await api(`/operators/${encodeURIComponent(ramal)}/events`, { headers: { accept: 'text/event-stream' }, signal: ctrl.signal });
  } catch {
    if (stream === ctrl) scheduleReconnect();
    return;
  }
  if (res.status === 401 || res.status === 403) return signOut(await problemText(res));
  if (!res.ok || !res.body) return scheduleReconnect();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += value.replace(/\r\n?/g, '\n');
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = 'message';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data += line.slice(5).replace(/^ /, '');
        }
        if (event === 'ready') setState('live', 'live');
        else if (event === 'answered' && data) showPop(JSON.parse(data) as Pop);
        else if (event === 'ended' && data) showEnded(JSON.parse(data) as Ended);
      }
    }
  } catch {
    /* aborted or connection lost */
  }
  if (stream === ctrl) scheduleReconnect();
}

function scheduleReconnect(): void {
  setState('reconnecting', 'reconnecting…');
  if (retry) window.clearTimeout(retry);
  retry = window.setTimeout(() => void connect(), 1000);
}

function start(): void {
  const ramal = sessionStorage.getItem(RAMAL) ?? '';
  $('login').hidden = true;
  $('app').hidden = false;
  $('sign-out').hidden = false;
  $('who').textContent = `ramal ${ramal}`;
  void connect();
}

$('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY, $<HTMLInputElement>('api-key').value.trim());
  sessionStorage.setItem(RAMAL, $<HTMLInputElement>('ramal').value.trim());
  $<HTMLInputElement>('api-key').value = '';
  start();
});

$('sign-out').addEventListener('click', () => signOut());

$('c2c-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const out = $('c2c-result');
  out.className = '';
  out.textContent = 'Calling…';
  const body = { ramal: sessionStorage.getItem(RAMAL) ?? '', telefone: $<HTMLInputElement>('c2c-telefone').value.trim() };
  void api('/calls', { method: 'POST', body: JSON.stringify(body) }).then(async (res) => {
    if (res.status === 201) {
      const r = (await res.json()) as { callId: string; telefone: string };
      out.className = 'ok';
      out.dataset.callId = r.callId;
      out.textContent = `Calling ${formatPhone(r.telefone)} — call id ${r.callId}`;
    } else {
      out.className = 'error';
      out.textContent = await problemText(res);
    }
  });
});

if (sessionStorage.getItem(KEY) && sessionStorage.getItem(RAMAL)) start();
else $('login').hidden = false;
