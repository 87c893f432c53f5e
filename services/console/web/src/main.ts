import './style.css';
import { ApiError, clearKey, createApi, storedKey, storeKey, type ApiClient } from './api';
import * as dom from './dom';
import { field, h } from './dom';
import * as forms from './forms';
import type { ConsoleSettings, Principal, Section, SectionContext } from './section';
import { sections } from './sections';

const main = document.getElementById('main') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
const signout = document.getElementById('signout') as HTMLButtonElement;
const status = document.getElementById('status') as HTMLElement;

let settings: ConsoleSettings = { dashboardUrl: '', operatorUrl: '', services: [] };
let current: { api: ApiClient; principal: Principal } | undefined;
/** Bumped on every render, so a slow section that finishes late does not overwrite a newer one. */
let generation = 0;

/** When the last notice was shown: one shown just before a navigation (save, then go) survives it. */
let noticeAt = 0;

function notify(message: string, kind: 'ok' | 'bad' = 'ok'): void {
  noticeAt = message ? Date.now() : 0;
  status.textContent = message;
  status.className = `notice${kind === 'bad' ? ' bad' : ''}`;
  status.hidden = !message;
}

/** The key stopped working (revoked, or wrong): forget it and ask again, saying why. */
function lostAccess(detail: string): void {
  if (!current) return;
  current = undefined;
  clearKey();
  showSignIn(`Signed out: ${detail}. Sign in with a valid API key.`);
}

async function whoAmI(key: string): Promise<{ api: ApiClient; principal: Principal }> {
  const api = createApi(key, lostAccess);
  const principal = await createApi(key).get<Principal>('chat-ingress', '/auth/me');
  return { api, principal };
}

function showSignIn(message?: string): void {
  generation++;
  nav.hidden = true;
  signout.hidden = true;
  nav.replaceChildren();
  notify('');
  if (location.hash) history.replaceState(null, '', location.pathname);
  const input = h('input', { type: 'password', name: 'key', autocomplete: 'off', spellcheck: 'false', required: true });
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h(
    'form',
    { class: 'card signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in'),
    message ? h('p', { class: 'notice bad', role: 'alert' }, message) : null,
    h('p', { class: 'muted' }, 'Use an Elo API key. It stays in this browser tab only and is forgotten when the tab closes.'),
    field('API key', input, 'key'),
    forms.formError(),
    h('div', { class: 'actions' }, button),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const key = input.value.trim();
    void forms.submitting(form, button, async () => {
      try {
        current = await whoAmI(key);
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          throw new ApiError({ status: 401, detail: 'this key is not valid', errors: [{ field: 'key', message: 'not a valid API key (unknown, revoked or mistyped)' }] });
        }
        throw err;
      }
      storeKey(key);
      input.value = '';
      start();
    });
  });
  main.replaceChildren(h('section', { class: 'card narrow' }, form));
  input.focus();
}

function visible(p: Principal): Section[] {
  return sections.filter((s) => s.permissions.some((x) => p.permissions.includes(x)));
}

function route(): { id: string; sub: string } {
  const m = /^#\/([^/]+)\/?(.*)$/.exec(location.hash);
  return { id: m?.[1] ?? '', sub: m?.[2] ?? '' };
}

function go(id: string, sub = ''): void {
  const hash = `#/${id}${sub ? `/${sub}` : ''}`;
  if (location.hash === hash) void render();
  else location.hash = hash;
}

function buildNav(p: Principal, list: Section[], activeId: string): void {
  const items: Node[] = list.map((s) =>
    h('a', { href: `#/${s.id}`, 'aria-current': s.id === activeId ? 'page' : undefined }, s.title),
  );
  if (settings.dashboardUrl && p.permissions.includes('dashboard:read')) items.push(h('a', { href: settings.dashboardUrl, class: 'external' }, 'Dashboard'));
  // The operator page opens a screen-pop stream, which needs telephony:call.
  if (settings.operatorUrl && p.permissions.includes('telephony:call')) items.push(h('a', { href: settings.operatorUrl, class: 'external' }, 'Operator'));
  nav.replaceChildren(...items);
  nav.hidden = false;
  signout.hidden = false;
  const who = document.getElementById('who');
  if (who) who.textContent = p.isAdmin ? 'bootstrap admin' : `${p.name} (${p.prefix ?? ''})`;
}

async function render(): Promise<void> {
  if (!current) return;
  const mine = ++generation;
  const { api, principal } = current;
  const list = visible(principal);
  const r = route();
  const section = list.find((s) => s.id === r.id) ?? list[0];
  buildNav(principal, list, section?.id ?? '');
  if (Date.now() - noticeAt > 1000) notify('');
  const root = h('div', { class: 'section', 'data-section': section?.id ?? '' });
  main.replaceChildren(root);
  if (!section) {
    root.append(h('section', { class: 'card' }, h('h1', {}, 'Nothing to show'), h('p', {}, 'This API key holds no permission the console uses.')));
    return;
  }
  document.title = `${section.title} · Elo console`;
  const ctx: SectionContext = {
    api,
    principal,
    settings,
    can: (x) => principal.permissions.includes(x),
    dom,
    forms,
    notify,
    go,
    sub: section.id === r.id ? r.sub : '',
  };
  try {
    await section.render(root, ctx);
  } catch (e) {
    if (mine !== generation) return;
    if (e instanceof ApiError && e.status === 401) return; // lostAccess already showed the sign-in
    root.append(h('p', { class: 'notice bad', role: 'alert' }, `This section could not load: ${e instanceof Error ? e.message : String(e)}`));
  }
}

function start(): void {
  void render();
  main.focus();
}

async function boot(): Promise<void> {
  try {
    const res = await fetch('/console-config.json', { headers: { accept: 'application/json' } });
    if (res.ok) settings = (await res.json()) as ConsoleSettings;
  } catch {
    // the links to the dashboard and operator page are left out
  }
  signout.addEventListener('click', () => {
    current = undefined;
    clearKey();
    showSignIn();
  });
  window.addEventListener('hashchange', () => {
    if (current) {
      void render();
      main.focus();
    }
  });
  const key = storedKey();
  if (!key) return showSignIn();
  try {
    current = await whoAmI(key);
    start();
  } catch (e) {
    clearKey();
    showSignIn(e instanceof ApiError && e.status === 401 ? 'Signed out: the API key is not valid any more.' : `The console could not check the key: ${e instanceof Error ? e.message : String(e)}`);
  }
}

void boot();
