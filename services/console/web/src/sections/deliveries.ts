import { ApiError } from '../api';
import { field, h, pre, table, when } from '../dom';
import { formError, submitting } from '../forms';
import type { Section, SectionContext } from '../section';
import type { Delivery, Integration } from './integrations';

const WD = 'webhook-dispatcher';

interface Attempt {
  attempt: number;
  request: { method?: string; url?: string; headers?: Record<string, string>; body?: string | null } | null;
  response: { status?: number; headers?: Record<string, string>; body?: string } | null;
  httpStatus: number | null;
  errorClass: string | null;
  error: string | null;
  durationMs: number | null;
  at: string;
}

/** datetime-local value → ISO, or undefined. */
const iso = (v: string): string | undefined => (v ? new Date(v).toISOString() : undefined);

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function attemptView(a: Attempt): HTMLElement {
  const req = a.request;
  const res = a.response;
  return h(
    'div',
    { class: 'attempt' },
    h('h3', {}, `Attempt ${a.attempt} · ${when(a.at)} · ${a.httpStatus ? `HTTP ${a.httpStatus}` : (a.errorClass ?? '')}${a.durationMs !== null ? ` · ${a.durationMs} ms` : ''}`),
    a.error ? h('p', { class: 'status-bad' }, a.error) : null,
    h('h4', {}, 'Request (secrets masked)'),
    pre(req ? [`${req.method ?? ''} ${req.url ?? ''}`, ...Object.entries(req.headers ?? {}).map(([k, v]) => `${k}: ${v}`), '', req.body ?? ''].join('\n') : '—'),
    h('h4', {}, 'Response'),
    pre(res ? [`HTTP ${res.status ?? ''}`, ...Object.entries(res.headers ?? {}).map(([k, v]) => `${k}: ${v}`), '', res.body ?? ''].join('\n') : '—'),
  );
}

async function render(root: HTMLElement, ctx: SectionContext): Promise<void> {
  const { api, can, go, notify } = ctx;
  const list = await api.get<Integration[]>(WD, '/integrations');
  const card = h('section', { class: 'card' }, h('h1', {}, 'Deliveries'));
  root.append(card);
  if (!list.length) {
    card.append(h('p', { class: 'muted' }, 'No integrations yet, so no deliveries.'));
    return;
  }
  const chosenId = list.some((i) => i.id === ctx.sub) ? ctx.sub : list[0]!.id;
  const integration = h('select', { name: 'integration' }, ...list.map((i) => h('option', { value: i.id }, i.name))) as HTMLSelectElement;
  integration.value = chosenId;
  integration.addEventListener('change', () => go('deliveries', integration.value));
  const outcome = h('select', { name: 'outcome' }, h('option', { value: '' }, 'Any'), h('option', { value: 'failed' }, 'Failed'), h('option', { value: 'succeeded' }, 'Succeeded'), h('option', { value: 'pending' }, 'Pending')) as HTMLSelectElement;
  const from = h('input', { type: 'datetime-local', name: 'from' }) as HTMLInputElement;
  const to = h('input', { type: 'datetime-local', name: 'to' }) as HTMLInputElement;
  const apply = h('button', { type: 'submit' }, 'Show');
  const filters = h(
    'form',
    { class: 'filters', 'aria-label': 'Filters' },
    h('div', { class: 'row' }, field('Integration', integration, 'integration'), field('Outcome', outcome, 'outcome'), field('Created from', from, 'from'), field('Created before', to, 'to'), apply),
    formError(),
  );
  const listBox = h('div', { class: 'deliveries' });
  const bulk = h('div', { class: 'bulk' });
  card.append(filters, bulk, listBox);

  let shown: Delivery[] = [];
  let next: string | undefined;
  const filter = () => ({ outcome: outcome.value, from: iso(from.value), to: iso(to.value) });
  const path = () => `/integrations/${integration.value}/deliveries`;
  const moreBtn = h('button', { type: 'button', class: 'secondary', hidden: true }, 'More deliveries');
  moreBtn.addEventListener('click', () => void submitting(listBox, moreBtn, () => load(true)));
  /** `keepBulk`: leave the bulk resend's progress and result on screen. */
  async function load(more = false, keepBulk = false): Promise<void> {
    const p = await api.page<Delivery>(WD, path(), more && next ? { cursor: next, limit: 100 } : { ...filter(), limit: 100 });
    shown = more ? [...shown, ...p.items] : p.items;
    next = p.next;
    moreBtn.hidden = !next;
    listBox.replaceChildren(
      table(['Created', 'Event', 'Outcome', 'Attempts', 'Last status', ''], shown, (d) => {
        const detail = h('div', { class: 'attempts' });
        const show = h('button', { type: 'button', class: 'secondary', 'aria-expanded': 'false' }, 'Attempts');
        show.addEventListener('click', () => {
          if (show.getAttribute('aria-expanded') === 'true') {
            detail.replaceChildren();
            show.setAttribute('aria-expanded', 'false');
            return;
          }
          void submitting(listBox, show, async () => {
            const attempts = await api.get<Attempt[]>(WD, `/deliveries/${d.id}/attempts`);
            detail.replaceChildren(...(attempts.length ? attempts.map(attemptView) : [h('p', { class: 'muted' }, 'No attempt yet.')]));
            show.setAttribute('aria-expanded', 'true');
          });
        });
        const actions = h('div', { class: 'actions tight' }, show);
        if (can('integrations:manage') && d.outcome !== 'pending') {
          const resend = h('button', { type: 'button', class: 'secondary' }, 'Resend');
          resend.addEventListener('click', () => {
            void submitting(listBox, resend, async () => {
              await api.post(WD, `/deliveries/${d.id}/resend`);
              notify('Delivery queued again (same webhook-id).');
              await load();
            });
          });
          actions.append(resend);
        }
        return [
          when(d.createdAt),
          d.eventType,
          h('span', { class: d.outcome === 'failed' ? 'status-bad' : d.outcome === 'succeeded' ? 'status-ok' : '' }, d.outcome),
          String(d.attempts),
          [d.lastHttpStatus ? `HTTP ${d.lastHttpStatus}` : '', d.lastErrorClass ?? '', d.lastError ?? ''].filter(Boolean).join(' · ') || '—',
          h('div', {}, actions, detail),
        ];
      }, 'No deliveries match.'),
      h('div', { class: 'actions' }, moreBtn),
      formError(),
    );
    if (!keepBulk) renderBulk();
  }

  /** Every finished delivery matching the filters, following the cursor through all pages. */
  async function allFinished(status: HTMLElement): Promise<Delivery[]> {
    const out: Delivery[] = [];
    let cursor: string | undefined;
    do {
      const p = await api.page<Delivery>(WD, path(), cursor ? { cursor, limit: 500 } : { ...filter(), limit: 500 });
      out.push(...p.items.filter((d) => d.outcome !== 'pending'));
      cursor = p.next;
      status.textContent = `Collecting the matching deliveries: ${out.length}…`;
    } while (cursor);
    return out;
  }

  /** While a bulk resend runs, its progress stays on screen whatever the listing does meanwhile. */
  let bulkRunning = false;

  /** Resends every finished delivery matching the filters (all pages), one after another, with progress; pending ones are left alone. */
  function renderBulk(): void {
    if (bulkRunning) return;
    bulk.replaceChildren();
    if (!can('integrations:manage') || !shown.some((d) => d.outcome !== 'pending')) return;
    const go = h('button', { type: 'button', class: 'secondary' }, 'Resend every finished delivery matching the filters');
    const progress = h('progress', { max: 1, value: 0, hidden: true, 'aria-label': 'Resend progress' }) as HTMLProgressElement;
    const status = h('span', { role: 'status', class: 'bulk-status' });
    let stop = false;
    const cancel = h('button', { type: 'button', class: 'danger', hidden: true, onclick: () => (stop = true) }, 'Stop');
    const run = async (): Promise<void> => {
      go.disabled = true;
      let finished: Delivery[];
      try {
        finished = await allFinished(status);
      } catch (e) {
        status.textContent = message(e);
        go.disabled = false;
        return;
      }
      if (!finished.length || !confirm(`Send ${finished.length} deliveries again?`)) {
        status.textContent = finished.length ? '' : 'Nothing to resend.';
        go.disabled = false;
        return;
      }
      progress.max = finished.length;
      progress.hidden = false;
      cancel.hidden = false;
      let ok = 0;
      const failed: string[] = [];
      for (const [i, d] of finished.entries()) {
        if (stop) break;
        try {
          await api.post(WD, `/deliveries/${d.id}/resend`);
          ok++;
        } catch (e) {
          if (e instanceof ApiError && e.status === 401) return;
          failed.push(message(e));
        }
        progress.value = i + 1;
        status.textContent = `${i + 1} of ${finished.length}: ${ok} queued${failed.length ? `, ${failed.length} refused` : ''}`;
      }
      cancel.hidden = true;
      status.textContent = `Done${stop ? ' (stopped)' : ''}: ${ok} queued again${failed.length ? `, ${failed.length} refused (${[...new Set(failed)].slice(0, 3).join('; ')})` : ''}.`;
      go.disabled = false;
      await load(false, true);
    };
    go.addEventListener('click', () => {
      bulkRunning = true;
      void run().finally(() => (bulkRunning = false));
    });
    bulk.append(h('div', { class: 'actions' }, go, cancel, progress, status));
  }

  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    void submitting(filters, apply, load);
  });
  await load();
}

export const deliveries: Section = {
  id: 'deliveries',
  title: 'Deliveries',
  permissions: ['integrations:manage', 'integrations:read'],
  render,
};
