import { renderTemplate } from '@elo/templating';
import { ApiError, type ApiClient } from '../api';
import { h, pre, table, when, field } from '../dom';
import { formError, formSlot, rowsEditor, submitting, type Pair } from '../forms';
import eventFields from '../generated/event-fields.json';
import type { Section, SectionContext } from '../section';

const WD = 'webhook-dispatcher';

/** As the webhook-dispatcher answers (IntegrationView). */
export interface Integration {
  id: string;
  name: string;
  description: string;
  kind: 'http' | 'soap';
  enabled: boolean;
  disabledReason: string | null;
  request?: HttpRequest;
  soap?: SoapRequest;
  trigger: { eventTypes: string[]; filter?: Array<{ field: string; op: string; value: string }> };
  reply: { success?: string; failure?: string };
  delivery?: { retryScheduleSeconds?: number[]; timeoutMs?: number; rateLimitPerSecond?: number; maxConcurrency?: number; disableAfterFailingSeconds?: number };
  failingSince: string | null;
  secrets: Record<string, string>;
  signingSecret?: string;
}
interface HttpRequest {
  method: string;
  url: string;
  headers?: Array<{ name: string; value: string }> | string;
  query?: Pair[];
  body?: { kind: 'keyvalue' | 'raw' | 'form'; pairs?: Pair[]; contentType?: string; template?: string };
  auth?: { type: 'bearer' | 'basic' | 'apiKey'; token?: string; username?: string; password?: string; header?: string; value?: string };
}
interface SoapRequest {
  wsdlUrl: string;
  operation: string;
  version?: '1.1' | '1.2';
  params: Array<{ name: string; value: string }>;
}
export interface Delivery {
  id: string;
  eventType: string;
  outcome: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  lastHttpStatus: number | null;
  lastErrorClass: string | null;
  lastError: string | null;
  createdAt: string;
  completedAt: string | null;
}
interface SentRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | null;
}
interface TestResult {
  request: SentRequest;
  response?: { status: number; headers: Record<string, string>; body: string };
  parsed?: unknown;
  httpStatus?: number;
  ok: boolean;
  errorClass?: string;
  error?: string;
  durationMs: number;
}
interface WsdlOperation {
  name: string;
  versions: Array<'1.1' | '1.2'>;
  soapAction: string;
  params: Array<{ name: string; type: string }>;
}

const EVENTS = eventFields as Record<string, { summary: string; fields: string[] }>;
/** Contact attributes chat-ingress collects (any custom one works too: `{attributes.<name>}`). */
const CONTACT_ATTRIBUTES = ['name', 'email', 'cpf', 'cnpj', 'address'];

function statusCell(i: Integration): Node {
  if (!i.enabled) return h('span', { class: 'status-bad' }, `Disabled${i.disabledReason ? `: ${i.disabledReason}` : ''}`);
  if (i.failingSince) return h('span', { class: 'status-bad' }, `Enabled, failing since ${when(i.failingSince)}`);
  return h('span', { class: 'status-ok' }, 'Enabled');
}

/** Last delivery and failure rate over the latest 100 finished deliveries. */
async function stats(api: ApiClient, id: string): Promise<{ last?: Delivery; rate: string }> {
  const list = await api.get<Delivery[]>(WD, `/integrations/${id}/deliveries`, { limit: 100 });
  const finished = list.filter((d) => d.outcome !== 'pending');
  const failed = finished.filter((d) => d.outcome === 'failed').length;
  return { last: list[0], rate: finished.length ? `${Math.round((100 * failed) / finished.length)} % of ${finished.length}` : '—' };
}

async function renderList(root: HTMLElement, ctx: SectionContext): Promise<void> {
  const { api, can, go } = ctx;
  const list = await api.get<Integration[]>(WD, '/integrations');
  const card = h('section', { class: 'card' }, h('h1', {}, 'Integrations'));
  if (can('integrations:manage')) {
    card.append(
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'button', onclick: () => go('integrations', 'new/http') }, 'New HTTP integration'),
        h('button', { type: 'button', class: 'secondary', onclick: () => go('integrations', 'new/soap') }, 'New SOAP integration'),
      ),
    );
  }
  const lastCells = new Map<string, { last: HTMLElement; rate: HTMLElement }>();
  card.append(
    table(['Name', 'Kind', 'Status', 'Last delivery', 'Failure rate', ''], list, (i) => {
      const last = h('span', { class: 'muted' }, '…');
      const rate = h('span', { class: 'muted' }, '…');
      lastCells.set(i.id, { last, rate });
      const actions = h('div', { class: 'actions tight' }, h('a', { href: `#/integrations/edit/${i.id}` }, can('integrations:manage') ? 'Edit' : 'View'), h('a', { href: `#/deliveries/${i.id}` }, 'Deliveries'));
      if (can('integrations:manage')) {
        const toggle = h('button', { type: 'button', class: 'secondary' }, i.enabled ? 'Disable' : 'Enable');
        toggle.addEventListener('click', () => {
          void submitting(card, toggle, async () => {
            await api.post(WD, `/integrations/${i.id}/${i.enabled ? 'disable' : 'enable'}`);
            ctx.notify(`${i.name} ${i.enabled ? 'disabled' : 'enabled'}.`);
            go('integrations');
          });
        });
        actions.append(toggle);
      }
      return [h('strong', {}, i.name), i.kind.toUpperCase(), statusCell(i), last, rate, actions];
    }, 'No integrations yet.'),
    formError(),
  );
  root.append(card);
  await Promise.all(
    list.map(async (i) => {
      const cells = lastCells.get(i.id)!;
      try {
        const s = await stats(api, i.id);
        cells.last.replaceChildren(s.last ? `${when(s.last.createdAt)} · ${s.last.outcome}${s.last.lastHttpStatus ? ` (${s.last.lastHttpStatus})` : ''}` : 'none yet');
        cells.rate.replaceChildren(s.rate);
        cells.last.className = cells.rate.className = '';
      } catch {
        cells.last.textContent = 'unavailable';
      }
    }),
  );
}

/** The headers editor: rows or `Name: value` lines. */
function headersEditor(fieldName: string, initial: HttpRequest['headers'], onChange: () => void) {
  const asText = typeof initial === 'string';
  const rows = rowsEditor({
    legend: 'Headers',
    field: fieldName,
    keyLabel: 'Header',
    valueLabel: 'Value',
    keyName: 'name',
    valueName: 'value',
    keyPlaceholder: 'X-Api-Key',
    rows: Array.isArray(initial) ? initial.map((x) => ({ key: x.name, value: x.value })) : [],
    onChange,
  });
  const text = h('textarea', { name: 'headersText', rows: 4, placeholder: 'X-Api-Key: {secret.apiKey}' }) as HTMLTextAreaElement;
  text.value = asText ? initial : '';
  text.addEventListener('input', onChange);
  const textField = field('Headers, one "Name: value" per line', text, fieldName);
  const mode = h('select', { name: 'headersMode' }, h('option', { value: 'rows' }, 'as rows'), h('option', { value: 'text' }, 'as text lines')) as HTMLSelectElement;
  mode.value = asText ? 'text' : 'rows';
  const sync = () => {
    rows.el.hidden = mode.value !== 'rows';
    textField.hidden = mode.value !== 'text';
  };
  mode.addEventListener('change', () => {
    // Carry what was typed over to the other form.
    if (mode.value === 'text') text.value = rows.get().map((p) => `${p.key}: ${p.value}`).join('\n');
    else rows.set(text.value.split(/\r?\n/).filter((l) => l.includes(':')).map((l) => ({ key: l.slice(0, l.indexOf(':')).trim(), value: l.slice(l.indexOf(':') + 1).trim() })));
    sync();
    onChange();
  });
  sync();
  return {
    el: h('div', {}, field('Headers entered', mode), rows.el, textField),
    get: (): HttpRequest['headers'] => (mode.value === 'text' ? text.value : rows.get().map((p) => ({ name: p.key, value: p.value }))),
  };
}

/** Inserts `{token}` at the caret of the last focused text field of `form`. */
function tokenPicker(form: HTMLElement, tokens: () => Array<{ group: string; tokens: string[] }>): HTMLElement {
  let target: HTMLInputElement | HTMLTextAreaElement | undefined;
  form.addEventListener('focusin', (e) => {
    const t = e.target;
    if ((t instanceof HTMLInputElement && (t.type === 'text' || t.type === 'url' || t.type === '')) || t instanceof HTMLTextAreaElement) target = t;
  });
  const list = h('div', { class: 'tokens' });
  const details = h('details', { class: 'picker' }, h('summary', {}, 'Insert a token'), h('p', { class: 'muted' }, 'Click into a field, then choose a token; it is inserted at the cursor.'), list);
  details.addEventListener('toggle', () => {
    if (!details.open) return;
    list.replaceChildren(
      ...tokens().map((g) =>
        h(
          'div',
          {},
          h('h3', {}, g.group),
          h(
            'div',
            { class: 'token-list' },
            ...g.tokens.map((t) =>
              h('button', {
                type: 'button',
                class: 'token',
                onclick: () => {
                  const el = target ?? form.querySelector<HTMLInputElement>('input[name="url"], input[data-role="value"]');
                  if (!el) return;
                  const at = el.selectionStart ?? el.value.length;
                  const token = `{${t}}`;
                  el.value = el.value.slice(0, at) + token + el.value.slice(el.selectionEnd ?? at);
                  el.dispatchEvent(new Event('input', { bubbles: true }));
                  el.focus();
                  el.setSelectionRange(at + token.length, at + token.length);
                },
              }, `{${t}}`),
            ),
          ),
        ),
      ),
    );
  });
  return details;
}

function requestView(r: SentRequest): HTMLElement {
  return pre([`${r.method} ${r.url}`, ...Object.entries(r.headers).map(([k, v]) => `${k}: ${v}`), '', r.body ?? ''].join('\n'));
}

async function renderEditor(root: HTMLElement, ctx: SectionContext, id: string | undefined, newKind: 'http' | 'soap'): Promise<void> {
  const { api, can, notify } = ctx;
  const readOnly = !can('integrations:manage');
  let saved: Integration | undefined = id ? await api.get<Integration>(WD, `/integrations/${id}`) : undefined;
  const kind = saved?.kind ?? newKind;
  let lastTest: TestResult | undefined;
  let lastEventData: Record<string, unknown> = {};

  const form = h('form', { class: 'card integration', novalidate: true, 'aria-labelledby': 'int-title' }) as HTMLFormElement;
  const title = h('h1', { id: 'int-title' }, saved ? `${kind.toUpperCase()} integration: ${saved.name}` : `New ${kind.toUpperCase()} integration`);
  const name = h('input', { name: 'name', type: 'text', required: true, value: saved?.name ?? '' }) as HTMLInputElement;
  const description = h('input', { name: 'description', type: 'text', value: saved?.description ?? '' }) as HTMLInputElement;

  // Trigger: event types as checkboxes; the first checked one feeds the token picker.
  const chosen = new Set(saved?.trigger.eventTypes ?? []);
  const triggerBoxes = Object.entries(EVENTS).map(([type, e]) => {
    const box = h('input', { type: 'checkbox', name: 'eventType', value: type, checked: chosen.has(type) }) as HTMLInputElement;
    box.id = `ev-${type.replace(/\W/g, '-')}`;
    return h('label', { for: box.id, title: e.summary }, box, type);
  });
  const triggerSet = h('fieldset', { class: 'trigger' }, h('legend', {}, 'Trigger: events that send this request'), h('div', { class: 'checks' }, ...triggerBoxes), formSlot('trigger.eventTypes'), formSlot('trigger'));
  const eventTypes = () => [...triggerSet.querySelectorAll<HTMLInputElement>('input[name="eventType"]:checked')].map((b) => b.value);
  // Filters as lines: `message.text contains boleto` or `channelId = <id>`; all must match.
  const filters = h('textarea', { name: 'filters', rows: 2, placeholder: 'message.text contains boleto' }) as HTMLTextAreaElement;
  filters.value = (saved?.trigger.filter ?? []).map((f) => `${f.field} ${f.op === 'equals' ? '=' : 'contains'} ${f.value}`).join('\n');
  triggerSet.append(field('Only when (one condition per line: "<field> = <text>" or "<field> contains <text>")', filters, 'trigger.filter'));
  const parseFilters = () =>
    filters.value.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).map((l) => {
      const m = /^(\S+)\s+(=|contains)\s+(.*)$/.exec(l);
      if (!m) throw new ApiError({ status: 400, detail: 'a filter line is not understood', errors: [{ field: 'trigger.filter', message: `"${l}" is not "<field> = <text>" or "<field> contains <text>"` }] });
      return { field: m[1]!, op: m[2] === '=' ? 'equals' : 'contains', value: m[3]! };
    });

  // Delivery settings: empty fields keep the dispatcher's defaults (or the saved values).
  const d = saved?.delivery ?? {};
  const num = (name: string, value: number | undefined, placeholder: string) => h('input', { type: 'text', inputmode: 'numeric', name, value: value ?? '', placeholder }) as HTMLInputElement;
  const timeoutMs = num('timeoutMs', d.timeoutMs, '10000');
  const retries = h('input', { type: 'text', name: 'retrySchedule', value: d.retryScheduleSeconds?.join(', ') ?? '', placeholder: '5, 300, 1800, 7200, 18000, 36000, 36000' }) as HTMLInputElement;
  const rate = num('rateLimitPerSecond', d.rateLimitPerSecond, 'no limit');
  const conc = num('maxConcurrency', d.maxConcurrency, 'service default');
  const disableAfter = num('disableAfterFailingSeconds', d.disableAfterFailingSeconds, '432000 (5 days)');
  const deliverySet = h(
    'details',
    { class: 'delivery' },
    h('summary', {}, 'Delivery: retries, timeout, limits'),
    h('div', { class: 'row' }, field('Timeout (ms)', timeoutMs, 'delivery.timeoutMs'), field('Retry after (seconds, comma-separated)', retries, 'delivery.retryScheduleSeconds')),
    h('div', { class: 'row' }, field('Requests per second at most', rate, 'delivery.rateLimitPerSecond'), field('Requests at once at most', conc, 'delivery.maxConcurrency'), field('Disable after failing for (seconds)', disableAfter, 'delivery.disableAfterFailingSeconds')),
    formSlot('delivery'),
  );
  const deliveryBody = (): Record<string, unknown> | undefined => {
    const out: Record<string, unknown> = {};
    const put = (k: string, el: HTMLInputElement) => {
      if (el.value.trim()) out[k] = Number(el.value.trim());
    };
    put('timeoutMs', timeoutMs);
    put('rateLimitPerSecond', rate);
    put('maxConcurrency', conc);
    put('disableAfterFailingSeconds', disableAfter);
    if (retries.value.trim()) out['retryScheduleSeconds'] = retries.value.split(',').map((x) => Number(x.trim()));
    return Object.keys(out).length ? out : undefined;
  };

  const secretNames = new Set(Object.keys(saved?.secrets ?? {}));
  const onChange = (): void => undefined;

  // ---- HTTP ----
  const req = saved?.request;
  const method = h('select', { name: 'method' }, ...['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((m) => h('option', { value: m }, m))) as HTMLSelectElement;
  method.value = req?.method ?? 'POST';
  const url = h('input', { name: 'url', type: 'text', inputmode: 'url', placeholder: 'https://crm.example/api/tickets/{contact.attributes.cpf}', value: req?.url ?? '' }) as HTMLInputElement;
  const headers = headersEditor('request.headers', req?.headers ?? [], onChange);
  const query = rowsEditor({ legend: 'Query parameters', field: 'request.query', keyLabel: 'Parameter', rows: req?.query ?? [] });
  const bodyKind = h('select', { name: 'bodyKind' }, h('option', { value: 'none' }, 'No body'), h('option', { value: 'keyvalue' }, 'JSON from key/value rows (bracket keys)'), h('option', { value: 'form' }, 'Form (application/x-www-form-urlencoded)'), h('option', { value: 'raw' }, 'Raw template')) as HTMLSelectElement;
  bodyKind.value = req?.body?.kind ?? (req ? 'none' : 'keyvalue');
  const pairs = rowsEditor({ legend: 'Body rows', field: 'request.body.pairs', keyLabel: 'Key', keyPlaceholder: 'customer[docs][0][cpf]', valuePlaceholder: '{attributes.cpf}', rows: req?.body?.pairs ?? [] });
  const contentType = h('input', { name: 'contentType', type: 'text', value: req?.body?.contentType ?? 'application/json' }) as HTMLInputElement;
  const rawTemplate = h('textarea', { name: 'template', rows: 6 }) as HTMLTextAreaElement;
  rawTemplate.value = req?.body?.template ?? '';
  const rawBox = h('div', {}, field('Content type', contentType, 'request.body.contentType'), field('Body template', rawTemplate, 'request.body.template'));
  const syncBody = () => {
    pairs.el.hidden = !['keyvalue', 'form'].includes(bodyKind.value);
    rawBox.hidden = bodyKind.value !== 'raw';
  };
  bodyKind.addEventListener('change', syncBody);
  syncBody();
  const authType = h('select', { name: 'authType' }, h('option', { value: 'none' }, 'None'), h('option', { value: 'bearer' }, 'Bearer token'), h('option', { value: 'basic' }, 'Basic (user and password)'), h('option', { value: 'apiKey' }, 'API key header')) as HTMLSelectElement;
  authType.value = req?.auth?.type ?? 'none';
  const authToken = h('input', { name: 'authToken', type: 'text', placeholder: '{secret.token}', value: req?.auth?.token ?? '' }) as HTMLInputElement;
  const authUser = h('input', { name: 'authUser', type: 'text', value: req?.auth?.username ?? '' }) as HTMLInputElement;
  const authPass = h('input', { name: 'authPass', type: 'text', placeholder: '{secret.password}', value: req?.auth?.password ?? '' }) as HTMLInputElement;
  const authHeader = h('input', { name: 'authHeader', type: 'text', placeholder: 'X-API-Key', value: req?.auth?.header ?? '' }) as HTMLInputElement;
  const authValue = h('input', { name: 'authValue', type: 'text', placeholder: '{secret.apiKey}', value: req?.auth?.value ?? '' }) as HTMLInputElement;
  const authFields = {
    bearer: field('Token (use a secret token)', authToken, 'request.auth.token'),
    basic: h('div', { class: 'row' }, field('User', authUser, 'request.auth.username'), field('Password (use a secret token)', authPass, 'request.auth.password')),
    apiKey: h('div', { class: 'row' }, field('Header name', authHeader, 'request.auth.header'), field('Value (use a secret token)', authValue, 'request.auth.value')),
  };
  const syncAuth = () => Object.entries(authFields).forEach(([k, el]) => (el.hidden = authType.value !== k));
  authType.addEventListener('change', syncAuth);
  syncAuth();
  const httpBox = h(
    'fieldset',
    { class: 'http' },
    h('legend', {}, 'HTTP request'),
    h('div', { class: 'row' }, field('Method', method, 'request.method'), field('URL', url, 'request.url')),
    headers.el,
    query.el,
    field('Body', bodyKind, 'request.body.kind'),
    pairs.el,
    rawBox,
    field('Authentication', authType, 'request.auth.type'),
    authFields.bearer,
    authFields.basic,
    authFields.apiKey,
    formSlot('request'),
  );

  // ---- SOAP ----
  const soap = saved?.soap;
  const wsdlUrl = h('input', { name: 'wsdlUrl', type: 'text', inputmode: 'url', placeholder: 'https://pbx.example/calls?wsdl', value: soap?.wsdlUrl ?? '' }) as HTMLInputElement;
  const loadOps = h('button', { type: 'button', class: 'secondary' }, 'Load operations');
  const operation = h('select', { name: 'operation' }, h('option', { value: soap?.operation ?? '' }, soap?.operation ?? 'Load the WSDL first')) as HTMLSelectElement;
  const version = h('select', { name: 'version' }, h('option', { value: '1.1' }, 'SOAP 1.1'), h('option', { value: '1.2' }, 'SOAP 1.2')) as HTMLSelectElement;
  version.value = soap?.version ?? '1.1';
  const paramsBox = h('div', { class: 'params' });
  const paramValues = new Map<string, string>((soap?.params ?? []).map((p) => [p.name, p.value]));
  const showParams = (names: Array<{ name: string; type: string }>) => {
    paramsBox.replaceChildren(
      ...names.map((p, i) => {
        const input = h('input', { type: 'text', name: `param-${p.name}`, 'data-param': p.name, value: paramValues.get(p.name) ?? '' }) as HTMLInputElement;
        input.addEventListener('input', () => paramValues.set(p.name, input.value));
        return field(`${p.name} (${p.type})`, input, `soap.params.${i}.value`);
      }),
    );
  };
  if (soap) showParams(soap.params.map((p) => ({ name: p.name, type: 'string' })));
  let operations: WsdlOperation[] = [];
  const soapBox = h(
    'fieldset',
    { class: 'soap' },
    h('legend', {}, 'SOAP request'),
    h('div', { class: 'row' }, field('WSDL URL', wsdlUrl, 'wsdlUrl'), loadOps),
    h('div', { class: 'row' }, field('Operation', operation, 'soap.operation'), field('SOAP version', version, 'soap.version')),
    h('h3', {}, 'Parameters'),
    paramsBox,
    formSlot('soap.params'),
    formSlot('soap'),
  );
  loadOps.addEventListener('click', () => {
    void submitting(soapBox, loadOps, async () => {
      const res = await api.post<{ operations: WsdlOperation[] }>(WD, '/wsdl/operations', { wsdlUrl: wsdlUrl.value.trim() });
      operations = res.operations;
      operation.replaceChildren(...operations.map((o) => h('option', { value: o.name }, o.name)));
      const keep = operations.find((o) => o.name === soap?.operation) ?? operations[0];
      if (keep) operation.value = keep.name;
      pickOperation();
      notify(`${operations.length} operation(s) in the WSDL.`);
    });
  });
  const pickOperation = () => {
    const op = operations.find((o) => o.name === operation.value);
    if (!op) return;
    if (!op.versions.includes(version.value as '1.1')) version.value = op.versions[0] ?? '1.1';
    showParams(op.params);
  };
  operation.addEventListener('change', pickOperation);

  // ---- secrets: entered once, shown masked afterwards ----
  const secretRows = rowsEditor({ legend: 'New or replaced secrets (shown masked once saved; use as {secret.<name>})', field: 'secrets', keyLabel: 'Secret name', valueLabel: 'Secret value' });
  secretRows.el.querySelectorAll('input[data-role="value"]').forEach((i) => ((i as HTMLInputElement).type = 'password'));
  secretRows.el.addEventListener('click', () => secretRows.el.querySelectorAll('input[data-role="value"]').forEach((i) => ((i as HTMLInputElement).type = 'password')));
  const removed = new Set<string>();
  const savedSecrets = h('div', { class: 'saved-secrets' });
  const showSaved = () => {
    savedSecrets.replaceChildren(
      ...Object.entries(saved?.secrets ?? {}).map(([n, masked]) => {
        const box = h('input', { type: 'checkbox', id: `rm-${n}`, checked: removed.has(n) }) as HTMLInputElement;
        box.addEventListener('change', () => (box.checked ? removed.add(n) : removed.delete(n)));
        return h('div', { class: 'row secret' }, h('code', {}, `{secret.${n}}`), h('span', { class: 'masked' }, masked), h('label', { for: box.id, class: 'inline' }, box, ' remove'));
      }),
    );
  };
  showSaved();

  // ---- reply templates, rendered live against the last test response ----
  const replyOk = h('textarea', { name: 'replySuccess', rows: 2, placeholder: 'Your ticket: {ticket}' }) as HTMLTextAreaElement;
  replyOk.value = saved?.reply?.success ?? '';
  const replyFail = h('textarea', { name: 'replyFailure', rows: 2, placeholder: 'The system is unavailable, try again later.' }) as HTMLTextAreaElement;
  replyFail.value = saved?.reply?.failure ?? '';
  const replyRender = h('div', { class: 'reply-render', 'aria-live': 'polite' });
  const renderReply = () => {
    if (!lastTest) {
      replyRender.replaceChildren(h('p', { class: 'muted' }, 'Press Test to see the reply rendered against the response.'));
      return;
    }
    const parsed = lastTest.parsed;
    const top = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
    const template = lastTest.ok ? replyOk.value : replyFail.value;
    let out: string;
    try {
      // As the dispatcher renders it: the event's fields, the parsed response at the top and as {response}, {httpStatus}.
      out = template ? renderTemplate(template, { ...lastEventData, response: parsed, httpStatus: lastTest.httpStatus, ...top }, { missing: 'empty' }) : '(no reply template)';
    } catch (e) {
      out = `the template does not render: ${(e as Error).message}`;
    }
    replyRender.replaceChildren(h('p', {}, h('strong', {}, `Reply (${lastTest.ok ? 'success' : 'failure'}): `), h('span', { class: 'reply-text' }, out)));
  };
  replyOk.addEventListener('input', renderReply);
  replyFail.addEventListener('input', renderReply);
  renderReply();

  // ---- sample event for Preview and Test ----
  const sample = h('textarea', { name: 'sample', rows: 4, placeholder: '{"contact": {"name": "Ana", "attributes": {"cpf": "01234567890"}}}' }) as HTMLTextAreaElement;

  // ---- token picker ----
  const picker = tokenPicker(form, () => {
    const types = eventTypes();
    const fields = new Set<string>();
    for (const t of types) for (const f of EVENTS[t]?.fields ?? []) fields.add(f);
    for (const k of Object.keys(lastEventData)) fields.add(k);
    const secrets = new Set([...secretNames, ...secretRows.get().map((p) => p.key)]);
    return [
      { group: types.length ? `Fields of ${types.join(', ')}` : 'Event fields (choose a trigger first)', tokens: [...fields] },
      { group: 'Contact attributes', tokens: CONTACT_ATTRIBUTES.map((a) => `attributes.${a}`) },
      { group: 'Event', tokens: ['event.id', 'event.type', 'event.time', 'event.subject'] },
      { group: 'Secrets', tokens: [...secrets].map((s) => `secret.${s}`) },
    ].filter((g) => g.tokens.length);
  });

  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  const saveBtn = h('button', { type: 'submit' }, 'Save');
  const previewBtn = h('button', { type: 'button', class: 'secondary' }, 'Preview');
  const testBtn = h('button', { type: 'button', class: 'secondary' }, 'Test');
  const once = h('div', {});

  form.append(
    title,
    field('Name', name, 'name'),
    field('Description', description, 'description'),
    triggerSet,
    kind === 'http' ? httpBox : soapBox,
    picker,
    deliverySet,
    h('fieldset', {}, h('legend', {}, 'Secrets'), savedSecrets, secretRows.el),
    h('fieldset', {}, h('legend', {}, 'Reply into the conversation'), field('On success', replyOk, 'reply.success'), field('On failure', replyFail, 'reply.failure'), replyRender),
    h('details', {}, h('summary', {}, 'Sample event for Preview and Test (optional)'), field('Event data (JSON); empty: the last delivered event', sample, 'data')),
    formError(),
    once,
    readOnly ? h('p', { class: 'muted' }, 'This key may read integrations but not change them.') : h('div', { class: 'actions' }, saveBtn, previewBtn, testBtn, h('a', { href: '#/integrations' }, 'Back to the list')),
    results,
  );
  if (readOnly) form.querySelectorAll('input, select, textarea').forEach((el) => el.setAttribute('disabled', ''));
  root.append(form);

  function body(): Record<string, unknown> {
    const b: Record<string, unknown> = {
      name: name.value.trim(),
      description: description.value,
      trigger: { eventTypes: eventTypes(), filter: parseFilters() },
      reply: { ...(replyOk.value ? { success: replyOk.value } : {}), ...(replyFail.value ? { failure: replyFail.value } : {}) },
    };
    if (kind === 'http') {
      const r: HttpRequest = { method: method.value, url: url.value.trim(), headers: headers.get(), query: query.get() };
      if (bodyKind.value === 'raw') r.body = { kind: 'raw', contentType: contentType.value.trim(), template: rawTemplate.value };
      else if (bodyKind.value !== 'none') r.body = { kind: bodyKind.value as 'keyvalue', pairs: pairs.get() };
      if (authType.value === 'bearer') r.auth = { type: 'bearer', token: authToken.value };
      if (authType.value === 'basic') r.auth = { type: 'basic', username: authUser.value, password: authPass.value };
      if (authType.value === 'apiKey') r.auth = { type: 'apiKey', ...(authHeader.value ? { header: authHeader.value } : {}), value: authValue.value };
      b['request'] = r;
    } else {
      const params = [...paramsBox.querySelectorAll<HTMLInputElement>('input[data-param]')].map((i) => ({ name: i.dataset['param'] ?? '', value: i.value }));
      b['soap'] = { wsdlUrl: wsdlUrl.value.trim(), operation: operation.value, version: version.value, params };
    }
    if (!saved) b['kind'] = kind;
    const delivery = deliveryBody();
    if (delivery) b['delivery'] = delivery;
    const secrets: Record<string, string | null> = {};
    for (const p of secretRows.get()) secrets[p.key] = p.value;
    if (saved) for (const n of removed) secrets[n] = null;
    if (Object.keys(secrets).length) b['secrets'] = secrets;
    return b;
  }

  /** Saves (create or change); the secrets typed are sent once and the rows emptied. */
  async function save(): Promise<Integration> {
    const b = body();
    const was = saved;
    saved = was ? await api.patch<Integration>(WD, `/integrations/${was.id}`, b) : await api.post<Integration>(WD, '/integrations', b);
    secretRows.set([]);
    removed.clear();
    for (const n of Object.keys(saved.secrets)) secretNames.add(n);
    showSaved();
    title.textContent = `${kind.toUpperCase()} integration: ${saved.name}`;
    if (!was) {
      history.replaceState(null, '', `#/integrations/edit/${saved.id}`);
      if (saved.signingSecret) {
        once.replaceChildren(
          h('div', { class: 'once', role: 'status' }, h('strong', {}, 'Signing secret (shown only now): '), h('code', { class: 'secret-once' }, saved.signingSecret), ' ', ctx.dom.copyButton(saved.signingSecret)),
        );
      }
    }
    notify(`Saved ${saved.name}.`);
    return saved;
  }

  function sampleBody(): Record<string, unknown> {
    const text = sample.value.trim();
    if (!text) return {};
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new ApiError({ status: 400, detail: 'the sample event is not JSON', errors: [{ field: 'data', message: 'not valid JSON' }] });
    }
    return { type: eventTypes()[0], data };
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void submitting(form, saveBtn, save);
  });

  // A saved integration: a new signing secret (shown once; the old one signs beside it for 24 h), or deletion.
  if (!readOnly && id) {
    const rotate = h('button', { type: 'button', class: 'secondary' }, 'Rotate signing secret');
    const remove = h('button', { type: 'button', class: 'danger' }, 'Delete integration');
    rotate.addEventListener('click', () => {
      if (!confirm('Issue a new signing secret? The current one keeps signing beside it for 24 hours.')) return;
      void submitting(form, rotate, async () => {
        const r = await api.post<{ signingSecret: string; previousExpiresAt: string }>(WD, `/integrations/${id}/rotate-signing-secret`);
        once.replaceChildren(
          h('div', { class: 'once', role: 'status' }, h('strong', {}, 'New signing secret (shown only now): '), h('code', { class: 'secret-once' }, r.signingSecret), ' ', ctx.dom.copyButton(r.signingSecret),
            h('p', {}, `The previous one still signs until ${when(r.previousExpiresAt)}.`)),
        );
      });
    });
    remove.addEventListener('click', () => {
      if (!confirm(`Delete "${saved?.name ?? ''}" and its deliveries?`)) return;
      void submitting(form, remove, async () => {
        await api.del(WD, `/integrations/${id}`);
        notify(`Integration ${saved?.name ?? ''} deleted.`);
        ctx.go('integrations');
      });
    });
    form.querySelector('.actions')?.append(rotate, remove);
  }
  previewBtn.addEventListener('click', () => {
    void submitting(form, previewBtn, async () => {
      const s = sampleBody();
      const it = await save();
      const p = await api.post<{ request: SentRequest; builtJson: unknown; event: { data?: Record<string, unknown> } }>(WD, `/integrations/${it.id}/preview`, s);
      lastEventData = p.event?.data ?? {};
      results.replaceChildren(
        h('section', { class: 'preview', 'aria-labelledby': 'pv-title' }, h('h2', { id: 'pv-title' }, 'Preview: the exact request (secrets masked)'), requestView(p.request),
          p.builtJson !== null ? h('div', {}, h('h3', {}, 'JSON built from the rows'), h('pre', { class: 'built-json' }, JSON.stringify(p.builtJson, null, 2))) : null),
      );
    });
  });
  testBtn.addEventListener('click', () => {
    void submitting(form, testBtn, async () => {
      const s = sampleBody();
      const it = await save();
      const t = await api.post<TestResult>(WD, `/integrations/${it.id}/test`, s);
      lastTest = t;
      lastEventData = (s['data'] as Record<string, unknown> | undefined) ?? lastEventData;
      const res = t.response;
      results.replaceChildren(
        h(
          'section',
          { class: 'test-result', 'aria-labelledby': 'tr-title' },
          h('h2', { id: 'tr-title' }, 'Test result'),
          h('p', {}, h('strong', { class: t.ok ? 'status-ok' : 'status-bad' }, res ? `HTTP ${res.status}` : `failed: ${t.errorClass ?? 'error'}`), ` in ${t.durationMs} ms`, t.error ? ` — ${t.error}` : ''),
          h('h3', {}, 'Request sent'),
          requestView(t.request),
          res ? h('div', {}, h('h3', {}, 'Response headers'), table(['Header', 'Value'], Object.entries(res.headers), ([k, v]) => [k, v]), h('h3', {}, 'Response body'), h('pre', { class: 'response-body' }, res.body)) : null,
        ),
      );
      renderReply();
    });
  });
}

export const integrations: Section = {
  id: 'integrations',
  title: 'Integrations',
  permissions: ['integrations:manage', 'integrations:read'],
  async render(root, ctx) {
    const [what, arg] = ctx.sub.split('/');
    if (what === 'new' && ctx.can('integrations:manage')) return renderEditor(root, ctx, undefined, arg === 'soap' ? 'soap' : 'http');
    if (what === 'edit' && arg) return renderEditor(root, ctx, arg, 'http');
    return renderList(root, ctx);
  },
};

