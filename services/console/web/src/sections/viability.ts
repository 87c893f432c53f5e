import { ApiError } from '../api';
import type { Section, SectionContext } from '../section';
import { field, h, table, when } from '../dom';
import { formError, submitting } from '../forms';
import { uploadInventory, importType, type ImportOutcome } from './viability-import';
import type { MapBox, PointMap } from './viability-map';

/** A box in the check answer (viability `POST /viability`). */
interface Box {
  id: string;
  externalId: string;
  name: string;
  status: string;
  freePorts: number;
  distanceMeters: number;
  pole?: string | null;
  refusedBecause?: 'full' | 'in_project' | 'not_deployed';
  lat?: number;
  lng?: number;
}

interface CheckAnswer {
  status: 'viable' | 'not_viable' | 'not_found';
  mode?: 'radius' | 'pole';
  maxDropMeters?: number;
  box?: Box;
  pole?: { externalId: string; name: string; distanceMeters: number; boxDistanceMeters: number };
  alternatives: Box[];
  refused: Box[];
  reason?: string;
  address?: string;
  candidates?: unknown[];
}

const OUTCOME: Record<CheckAnswer['status'], string> = {
  viable: 'Viable',
  not_viable: 'Not viable: network near, no box eligible',
  not_found: 'Not found: no network within the drop distance',
};

const REFUSED: Record<string, string> = {
  full: 'full (no free port)',
  in_project: 'in project',
  not_deployed: 'not deployed',
};

const metres = (m: number) => `${Math.round(m)} m`;

/** Map colours: the point, then the boxes by kind (the legend says the same). */
const COLORS = { point: '#f0b400', chosen: '#1e7a36', alternative: '#1d5fd1', refused: '#b3261e' } as const;

function importCard(ctx: SectionContext): HTMLElement {
  const kind = h('select', { name: 'kind' }, h('option', { value: 'boxes' }, 'Boxes (CTOs)'), h('option', { value: 'poles' }, 'Poles'));
  const file = h('input', { type: 'file', name: 'file', accept: '.csv,.geojson,.json,text/csv,application/geo+json,application/json', required: true });
  const progress = h('progress', { max: 1, value: 0, 'aria-label': 'Upload progress', hidden: true });
  const progressText = h('span', { class: 'muted', 'aria-live': 'polite', 'data-import-progress': '' });
  const result = h('div', { 'data-import-result': '' });
  const button = h('button', { type: 'submit' }, 'Import');
  const cancel = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Cancel');
  let aborter: AbortController | undefined;
  cancel.addEventListener('click', () => aborter?.abort());
  const form = h(
    'form',
    { 'aria-labelledby': 'inv-title' },
    h('h2', { id: 'inv-title' }, 'Import inventory'),
    h(
      'p',
      { class: 'muted' },
      'CSV with the header ',
      h('code', {}, 'external_id,name,lat,lng,status,port_capacity,ports_in_use,pole_external_id'),
      ' (poles: the first four), or a GeoJSON FeatureCollection. Rows are matched by external id: new ones inserted, known ones updated; bad rows are listed by line and the rest go in.',
    ),
    h('div', { class: 'row' }, field('Kind', kind, 'kind'), field('File', file, 'file')),
    h('div', { class: 'row' }, progress, progressText),
    formError(),
    h('div', { class: 'actions' }, button, cancel),
    result,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) return;
    result.replaceChildren();
    void submitting(form, button, async () => {
      aborter = new AbortController();
      cancel.hidden = false;
      progress.hidden = false;
      progress.value = 0;
      progressText.textContent = `Sending ${chosen.name} as ${importType(chosen)}…`;
      try {
        const answer = await uploadInventory(kind.value as 'boxes' | 'poles', chosen, (sent, total) => {
          progress.value = total ? sent / total : 0;
          progressText.textContent = sent >= total ? `Sent ${kb(total)}; viability is writing the last rows…` : `Sent ${kb(sent)} of ${kb(total)}`;
        }, aborter.signal);
        if (answer.status === 401) void ctx.api.get('chat-ingress', '/auth/me').catch(() => undefined); // signs out
        if (answer.status >= 400) {
          const p: { detail?: string } = typeof answer.body === 'object' && answer.body ? (answer.body as object) : { detail: String(answer.body) };
          if (answer.status === 413) {
            p.detail = `${p.detail ?? 'the file is too large'} (${kb(chosen.size)}): split it, raise the console's BODY_LIMIT_BYTES, or use viability's command-line import`;
          }
          throw new ApiError({ status: answer.status, ...p });
        }
        const out = answer.body as ImportOutcome;
        progress.value = 1;
        progressText.textContent = `Done: ${chosen.name}`;
        result.replaceChildren(outcome(out));
        ctx.notify(`Inventory imported: ${out.inserted} inserted, ${out.updated} updated, ${out.errorCount} refused.`, out.errorCount ? 'bad' : 'ok');
      } catch (err) {
        progress.hidden = true;
        progressText.textContent = '';
        throw err;
      } finally {
        cancel.hidden = true;
      }
    });
  });
  return h('section', { class: 'card' }, form);
}

const kb = (n: number) => (n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${Math.ceil(n / 1024)} kB`);

function outcome(out: ImportOutcome): HTMLElement {
  return h(
    'div',
    {},
    h(
      'p',
      { class: out.errorCount ? 'notice bad' : 'notice', 'data-import-summary': '' },
      `${out.inserted} inserted, ${out.updated} updated, ${out.errorCount} refused.`,
    ),
    out.errors.length
      ? h(
          'div',
          {},
          h('h3', {}, out.errorCount > out.errors.length ? `Refused rows (the first ${out.errors.length} of ${out.errorCount})` : 'Refused rows'),
          table(['Line', 'Reason'], out.errors, (e) => [String(e.line), e.reason]),
        )
      : null,
  );
}

function settingsCard(ctx: SectionContext): HTMLElement {
  const drop = h('input', { type: 'number', name: 'maxDropMeters', min: 1, max: 5000 });
  const mode = h('select', { name: 'mode' }, h('option', { value: 'radius' }, 'Nearest eligible box'), h('option', { value: 'pole' }, 'Nearest pole with an eligible box'));
  const button = h('button', { type: 'submit' }, 'Save');
  const form = h(
    'form',
    { 'aria-labelledby': 'via-settings' },
    h('h2', { id: 'via-settings' }, 'Check settings'),
    h('div', { class: 'row' }, field('Maximum drop distance (m)', drop, 'maxDropMeters'), field('Mode', mode, 'mode')),
    formError(),
    h('div', { class: 'actions' }, button),
  );
  void ctx.api.get<{ maxDropMeters: number; mode: string }>('viability', '/settings').then((s) => {
    drop.value = String(s.maxDropMeters);
    mode.value = s.mode;
  }, () => undefined);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void submitting(form, button, async () => {
      const saved = await ctx.api.put<{ maxDropMeters: number; mode: string }>('viability', '/settings', {
        maxDropMeters: drop.value === '' ? undefined : Number(drop.value),
        mode: mode.value,
      });
      ctx.notify(`Checks now use ${saved.maxDropMeters} m, ${saved.mode} mode.`);
    });
  });
  return h('section', { class: 'card' }, form);
}

function checkCard(ctx: SectionContext): HTMLElement {
  const lat = h('input', { type: 'number', name: 'lat', step: 'any', min: -90, max: 90, inputmode: 'decimal', placeholder: '-25.4284' });
  const lng = h('input', { type: 'number', name: 'lng', step: 'any', min: -180, max: 180, inputmode: 'decimal', placeholder: '-49.2733' });
  const address = h('input', { type: 'text', name: 'address', placeholder: 'Rua XV de Novembro, 700, Curitiba' });
  const mapBox = h('div', {
    class: 'point-map',
    role: 'application',
    'aria-label': 'Map: click to pick the point to check',
    // No tiles: a plain grid, so the map reads without any outside server.
    style: 'height: 320px; margin: .6rem 0; border: 1px solid var(--line); border-radius: 4px; background-color: #eef2f6; background-image: linear-gradient(#d7dde5 1px, transparent 1px), linear-gradient(90deg, #d7dde5 1px, transparent 1px); background-size: 32px 32px;',
  });
  const result = h('div', { 'data-check-result': '', 'aria-live': 'polite' });
  const button = h('button', { type: 'submit' }, 'Check this point');
  const form = h(
    'form',
    { 'aria-labelledby': 'via-check' },
    h('h2', { id: 'via-check' }, 'Check a point'),
    h('p', { class: 'muted' }, 'Type the coordinates or click the map; or give an address (when a geocoder is configured).'),
    h('div', { class: 'row' }, field('Latitude', lat, 'lat'), field('Longitude', lng, 'lng'), button),
    field('Or an address', address, 'address'),
    formError(),
  );
  let map: PointMap | undefined;
  const check = () =>
    submitting(form, button, async () => {
      const body = address.value.trim() ? { address: address.value.trim() } : { lat: num(lat.value), lng: num(lng.value) };
      const answer = await ctx.api.post<CheckAnswer>('viability', '/viability', body);
      result.replaceChildren(describe(answer));
      const point = 'lat' in body ? { lat: body.lat!, lng: body.lng! } : undefined;
      if (map && point) map.show(point, answer.maxDropMeters ?? 150, boxesOf(answer));
    });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void check();
  });
  address.addEventListener('input', () => {
    lat.required = lng.required = !address.value.trim();
  });
  // Leaflet is loaded only when this card is shown (its own chunk).
  void import('./viability-map')
    .then(({ createPointMap }) => {
      if (!mapBox.isConnected) return;
      map = createPointMap(mapBox, (la, lo) => {
        lat.value = String(la);
        lng.value = String(lo);
        address.value = '';
        void check();
      }, { pointColor: COLORS.point });
    })
    .catch(() => mapBox.replaceChildren(h('p', { class: 'muted' }, 'The map could not load; the coordinates work without it.')));
  const dot = (color: string, text: string) => h('span', {}, h('span', { 'aria-hidden': 'true', style: `color: ${color}` }, '● '), text);
  const legend = h('p', { class: 'muted', style: 'display: flex; flex-wrap: wrap; gap: .3rem 1rem; margin: 0 0 .6rem' },
    dot(COLORS.point, 'the point'), dot(COLORS.chosen, 'chosen box'), dot(COLORS.alternative, 'other eligible'), dot(COLORS.refused, 'refused'), 'circle: the drop distance');
  return h('section', { class: 'card' }, form, mapBox, legend, result);
}

/** A recorded check (viability `GET /viability/checks`): what the row keeps of the answer. */
interface RecordedCheck {
  id: string;
  checkedAt: string;
  via: string;
  location: { lat: number; lng: number } | null;
  status: CheckAnswer['status'];
  result: { box?: { externalId?: string; name: string; distanceMeters: number }; refused?: Array<{ refusedBecause?: string }>; reason?: string };
}

const VIA: Record<string, string> = { coordinates: 'Coordinates', address: 'Address', chat_location: 'Chat location', findme: 'FindME link' };

/** Where customers asked, newest first; filtered to the unserved ones, that is where the network could grow. */
function historyCard(ctx: SectionContext): HTMLElement {
  const status = h('select', { name: 'historyStatus' },
    h('option', { value: '' }, 'Any outcome'), h('option', { value: 'not_viable' }, 'Not viable'), h('option', { value: 'not_found' }, 'Not found'), h('option', { value: 'viable' }, 'Viable'),
  ) as HTMLSelectElement;
  const list = h('div', { 'data-check-history': '' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'More checks');
  let shown: RecordedCheck[] = [];
  let next: string | null = null;
  const outcome = (c: RecordedCheck) => {
    if (c.result.box) return `${OUTCOME.viable}: ${c.result.box.name} at ${metres(c.result.box.distanceMeters)}`;
    const why = [...new Set((c.result.refused ?? []).map((r) => REFUSED[r.refusedBecause ?? ''] ?? r.refusedBecause))].join(', ');
    return `${OUTCOME[c.status] ?? c.status}${why ? ` (${why})` : ''}${c.result.reason ? ` · ${c.result.reason}` : ''}`;
  };
  const point = (c: RecordedCheck) => (c.location ? `${c.location.lat.toFixed(5)}, ${c.location.lng.toFixed(5)}` : '—');
  async function load(again: boolean): Promise<void> {
    const page = await ctx.api.get<{ items: RecordedCheck[]; nextCursor: string | null }>('viability', '/viability/checks',
      again && next ? { cursor: next } : { status: status.value, limit: 50 });
    shown = again ? [...shown, ...page.items] : page.items;
    next = page.nextCursor;
    more.hidden = !next;
    list.replaceChildren(table(['When', 'How', 'Point', 'Outcome'], shown, (c) => [when(c.checkedAt), VIA[c.via] ?? c.via, point(c), outcome(c)], 'No checks recorded yet.'));
  }
  const show = (again: boolean) => {
    void load(again).catch((err: unknown) => list.replaceChildren(h('p', { class: 'status-bad' }, err instanceof Error ? err.message : String(err))));
  };
  status.addEventListener('change', () => show(false));
  more.addEventListener('click', () => show(true));
  show(false);
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'history-title' },
    h('h2', { id: 'history-title' }, 'Recent checks'),
    h('p', { class: 'muted' }, 'Every check, from the API, the chat and FindME links, newest first. “Not viable” and “Not found” show where customers asked and the network does not serve yet.'),
    h('div', { class: 'row' }, field('Outcome', status, 'historyStatus')),
    list,
    h('div', { class: 'actions' }, more),
  );
}

const num = (v: string): number | undefined => (v.trim() === '' ? undefined : Number(v));

function boxesOf(a: CheckAnswer): MapBox[] {
  const label = (b: Box, what: string) => `${what}, ${metres(b.distanceMeters)}`;
  return [
    ...(a.box ? [{ ...a.box, kind: 'chosen' as const, color: COLORS.chosen, label: label(a.box, `chosen, ${a.box.freePorts} free ports`) }] : []),
    ...a.alternatives.map((b) => ({ ...b, kind: 'alternative' as const, color: COLORS.alternative, label: label(b, 'eligible') })),
    ...a.refused.map((b) => ({ ...b, kind: 'refused' as const, color: COLORS.refused, label: label(b, REFUSED[b.refusedBecause ?? ''] ?? 'refused') })),
  ];
}

function describe(a: CheckAnswer): HTMLElement {
  const boxCells = (b: Box) => [b.name, b.externalId, metres(b.distanceMeters), String(b.freePorts), b.status];
  return h(
    'div',
    {},
    h(
      'p',
      { class: a.status === 'viable' ? 'notice' : 'notice bad', 'data-status': a.status },
      h('strong', {}, OUTCOME[a.status]),
      a.maxDropMeters ? ` (within ${a.maxDropMeters} m, ${a.mode === 'pole' ? 'pole' : 'radius'} mode)` : '',
      a.address ? ` · ${a.address}` : '',
      a.reason ? ` · ${a.reason}` : '',
    ),
    a.box
      ? h(
          'div',
          { 'data-chosen-box': a.box.externalId },
          h('h3', {}, 'Chosen box'),
          h('p', {}, h('strong', {}, a.box.name), ` (${a.box.externalId}) at ${metres(a.box.distanceMeters)}, ${a.box.freePorts} free port${a.box.freePorts === 1 ? '' : 's'}, ${a.box.status}`),
          a.pole ? h('p', { class: 'muted' }, `Through pole ${a.pole.name} (${a.pole.externalId}) at ${metres(a.pole.distanceMeters)}; the box is ${metres(a.pole.boxDistanceMeters)} from it.`) : null,
        )
      : null,
    a.alternatives.length
      ? h('div', {}, h('h3', {}, 'Other eligible boxes'), table(['Name', 'External id', 'Distance', 'Free ports', 'Status'], a.alternatives, boxCells))
      : null,
    h(
      'div',
      { 'data-refused': '' },
      h('h3', {}, 'Refused boxes'),
      table(['Name', 'External id', 'Distance', 'Free ports', 'Why refused'], a.refused, (b) => [...boxCells(b).slice(0, 4), REFUSED[b.refusedBecause ?? ''] ?? b.refusedBecause ?? ''], 'None in range.'),
    ),
  );
}

export const viability: Section = {
  id: 'viability',
  title: 'Viability',
  permissions: ['viability:manage', 'viability:check'],
  render(root, ctx) {
    root.append(h('section', { class: 'card' }, h('h1', {}, 'Viability'), h('p', { class: 'muted' }, 'The fibre inventory, and “can we serve this point?”.')));
    if (ctx.can('viability:manage')) root.append(importCard(ctx));
    if (ctx.can('viability:check')) root.append(checkCard(ctx));
    if (ctx.can('viability:manage')) root.append(historyCard(ctx), settingsCard(ctx));
  },
};
