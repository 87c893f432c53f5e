import { ApiError } from '../api';
import type { SectionContext } from '../section';
import { field, h, table, when } from '../dom';
import { clearErrors, formError, showErrors } from '../forms';

/**
 * The tenant's bot flow (chat-ingress `PUT /flow`) edited as a list of steps with their branches.
 * chat-ingress validates it when it is published and names the field of each problem
 * (`steps.<id>.options.0.next`); the problem sits beside that field here.
 */

type StepType = 'message' | 'menu' | 'question' | 'integration' | 'viability' | 'transfer' | 'close';
type Step = { type: StepType } & Record<string, unknown>;
interface Option {
  id: string;
  title: string;
  next: string;
}
interface FlowDefinition {
  start: string;
  steps: Record<string, Step>;
}
interface FlowVersion {
  id: string;
  version: number;
  definition: FlowDefinition;
  createdAt: string;
}

const TYPES: Array<[StepType, string]> = [
  ['message', 'Message'],
  ['menu', 'Menu'],
  ['question', 'Question'],
  ['integration', 'Integration'],
  ['viability', 'Viability check'],
  ['transfer', 'Transfer to a queue'],
  ['close', 'Close'],
];

const ANSWERS = ['text', 'email', 'cpf', 'cnpj', 'cpf_cnpj', 'phone', 'date'];

/**
 * Kinds of field: `text` one line, `long` several, `branch` a step to go to (required), `branch?` an
 * optional one, `bool` a checkbox (off unless set), `bool+` one on unless set to false, `answer` the
 * answer check, `integration` an integration name.
 * Optional texts end in `?`.
 */
type Kind = 'text' | 'text?' | 'long' | 'long?' | 'branch' | 'branch?' | 'bool' | 'bool+' | 'answer' | 'integration';
const FIELDS: Record<StepType, Array<[string, string, Kind]>> = {
  message: [['text', 'Text', 'long'], ['next', 'Then go to', 'branch?']],
  menu: [['text', 'Text', 'long'], ['invalidText', 'When the answer is not an option', 'text?'], ['buttons', 'Show the options as buttons (up to 10)', 'bool+']],
  question: [
    ['text', 'Question', 'long'], ['validate', 'Answer must be', 'answer'], ['attribute', 'Store the answer as contact attribute (later texts show it as {contact.attributes.<name>})', 'text'],
    ['invalidText', 'When the answer is not valid', 'text?'], ['next', 'Then go to', 'branch'],
  ],
  integration: [
    ['integration', 'Integration (name)', 'integration'], ['waitText', 'While waiting', 'text?'], ['successText', 'On success ({reply} = the reply)', 'text?'],
    ['failureText', 'On failure', 'text?'], ['onSuccess', 'On success go to', 'branch'], ['onFailure', 'On failure go to', 'branch'],
  ],
  viability: [
    ['text', 'Ask for the location', 'long'], ['findme', 'Send a FindME link (map) instead', 'bool'], ['viableText', 'When viable', 'text?'],
    ['notViableText', 'When not viable', 'text?'], ['onViable', 'Viable: go to', 'branch'], ['onNotViable', 'Not viable: go to', 'branch'],
    ['onNotFound', 'Not found: go to (else as not viable)', 'branch?'],
  ],
  transfer: [['queue', 'Queue', 'text'], ['text', 'Tell the customer', 'text?']],
  close: [['text', 'Closing text', 'text?']],
};

const STEP_ID = /^[A-Za-z0-9_-]{1,60}$/;
const UNREACHED = ' (nothing leads here yet)';

/** A new step of this type, keeping the text of the one it replaces. */
function blank(type: StepType, from?: Step): Step {
  const text = typeof from?.text === 'string' ? from.text : '';
  switch (type) {
    case 'message': return { type, text };
    case 'menu': return { type, text, options: [{ id: '1', title: '', next: '' }] };
    case 'question': return { type, text, validate: 'text', attribute: '', next: '' };
    case 'integration': return { type, integration: '', onSuccess: '', onFailure: '' };
    case 'viability': return { type, text, onViable: '', onNotViable: '' };
    case 'transfer': return { type, queue: 'human' };
    case 'close': return { type };
  }
}

/** Every branch of a step: [field path, target]. */
function branches(s: Step): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [k, , kind] of FIELDS[s.type] ?? []) if (kind.startsWith('branch') && typeof s[k] === 'string') out.push([k, s[k] as string]);
  if (s.type === 'menu' && Array.isArray(s.options)) (s.options as Option[]).forEach((o, i) => out.push([`options.${i}.next`, o.next]));
  return out;
}

/**
 * Step ids in reading order: from the start step along the branches (breadth first), then the steps
 * nothing leads to. The stored flow keeps no order of its own (PostgreSQL jsonb sorts the keys).
 */
function readingOrder(def: FlowDefinition): { order: string[]; reached: Set<string> } {
  const reached = new Set<string>();
  const queue = def.start in def.steps ? [def.start] : [];
  while (queue.length) {
    const id = queue.shift()!;
    if (reached.has(id)) continue;
    reached.add(id);
    for (const [, to] of branches(def.steps[id]!)) if (to in def.steps && !reached.has(to)) queue.push(to);
  }
  return { order: [...reached, ...Object.keys(def.steps).filter((id) => !reached.has(id))], reached };
}

export async function flowEditor(ctx: SectionContext): Promise<HTMLElement> {
  const card = h('section', { class: 'card', 'aria-labelledby': 'flow-title' });
  let def: FlowDefinition = { start: 'menu', steps: { menu: blank('menu'), human: blank('transfer'), bye: { type: 'close', text: 'Obrigado!' } } };
  (def.steps.menu!.options as Option[])[0] = { id: '1', title: 'Falar com um atendente', next: 'human' };
  def.steps.menu!.text = 'Olá! Como podemos ajudar?';
  let loaded = 'No flow is published yet: this is a starting point.';
  try {
    const latest = await ctx.api.get<FlowVersion>('chat-ingress', '/flow');
    def = latest.definition;
    loaded = `Published: version ${latest.version} (${when(latest.createdAt)}).`;
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
  }
  const integrationNames: string[] = [];
  if (ctx.can('integrations:read')) {
    await ctx.api
      .get<Array<{ name: string }>>('webhook-dispatcher', '/integrations')
      .then((list) => integrationNames.push(...list.map((i) => i.name)))
      .catch(() => undefined);
  }

  const status = h('p', { class: 'muted', 'data-flow-status': '' }, loaded);
  const json = h('pre', { 'data-flow-json': '' });
  const outline = h('ol', { class: 'flow-outline', 'aria-label': 'Flow outline' });
  const stepsBox = h('div', {});
  const startSelect = h('select', { name: 'start' });
  const form = h('form', { 'aria-labelledby': 'flow-title', novalidate: true });
  const datalist = h('datalist', { id: 'flow-integrations' }, ...integrationNames.map((n) => h('option', { value: n })));

  const stepOptions = (select: HTMLSelectElement, value: string, optional: boolean) => {
    select.replaceChildren(
      h('option', { value: '' }, optional ? '— none —' : '— choose a step —'),
      ...Object.keys(def.steps).map((id) => h('option', { value: id, selected: id === value }, id)),
    );
    if (value && !(value in def.steps)) select.append(h('option', { value, selected: true }, `${value} (missing)`));
  };

  const drawOutline = () => {
    json.textContent = JSON.stringify(def, null, 2);
    const { order, reached } = readingOrder(def);
    outline.replaceChildren(
      ...order.map((id) => {
        const s = def.steps[id]!;
        const note = id === def.start ? ' (start)' : reached.has(id) ? '' : UNREACHED;
        return h('li', {}, h('strong', {}, id), ` ${s.type}${note}`, ...branches(s).map(([k, to]) => ` · ${k} → ${to || '?'}`));
      }),
    );
    // The steps stay where they are while being edited; only their "nothing leads here" note follows.
    stepsBox.querySelectorAll<HTMLElement>('[data-step]').forEach((box) => {
      const note = box.querySelector('[data-unreached]');
      if (note) note.textContent = reached.has(box.dataset.step ?? '') ? '' : UNREACHED;
    });
  };

  const fieldFor = (id: string, step: Step, key: string, label: string, kind: Kind): HTMLElement => {
    const name = `steps.${id}.${key}`;
    const value = step[key];
    const set = (v: unknown) => {
      if (v === undefined || v === '') delete step[key];
      else step[key] = v;
      drawOutline();
    };
    if (kind === 'bool' || kind === 'bool+') {
      const on = kind === 'bool' ? value === true : value !== false;
      const input = h('input', { type: 'checkbox', name, checked: on, id: `flow-${id}-${key}` });
      input.addEventListener('change', () => set(kind === 'bool' ? (input.checked ? true : undefined) : input.checked ? undefined : false));
      return h('div', { class: 'checks' }, h('label', { for: input.id }, input, label), h('div', { class: 'error', role: 'alert', 'data-error-for': name }));
    }
    if (kind === 'branch' || kind === 'branch?') {
      const select = h('select', { name });
      stepOptions(select, typeof value === 'string' ? value : '', kind === 'branch?');
      // Required branches are sent even when empty, so the problem comes back and sits here.
      select.addEventListener('change', () => (kind === 'branch' ? ((step[key] = select.value), drawOutline()) : set(select.value)));
      return field(label, select, name);
    }
    if (kind === 'answer') {
      const select = h('select', { name }, ...ANSWERS.map((a) => h('option', { value: a, selected: a === value }, a)));
      select.addEventListener('change', () => set(select.value));
      return field(label, select, name);
    }
    const required = !kind.endsWith('?');
    const input = kind.startsWith('long') ? h('textarea', { name, rows: 2 }) : h('input', { type: 'text', name, list: kind === 'integration' ? 'flow-integrations' : undefined });
    input.value = typeof value === 'string' ? value : '';
    // Required texts are kept even when empty (the API says what is missing); optional ones are left out.
    input.addEventListener('input', () => (required ? ((step[key] = input.value), drawOutline()) : set(input.value)));
    return field(label, input, name);
  };

  const optionsFor = (id: string, step: Step): HTMLElement => {
    const options = (Array.isArray(step.options) ? step.options : (step.options = [])) as Option[];
    const box = h('fieldset', {}, h('legend', {}, 'Options'), h('div', { class: 'error', role: 'alert', 'data-error-for': `steps.${id}.options` }));
    options.forEach((o, i) => {
      const base = `steps.${id}.options.${i}`;
      const oid = h('input', { type: 'text', name: `${base}.id`, value: o.id, size: 4 });
      oid.addEventListener('input', () => {
        o.id = oid.value;
        drawOutline();
      });
      const title = h('input', { type: 'text', name: `${base}.title`, value: o.title });
      title.addEventListener('input', () => {
        o.title = title.value;
        drawOutline();
      });
      const next = h('select', { name: `${base}.next` });
      stepOptions(next, o.next, false);
      next.addEventListener('change', () => {
        o.next = next.value;
        drawOutline();
      });
      const remove = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove option ${i + 1} of ${id}` }, 'Remove');
      remove.addEventListener('click', () => {
        options.splice(i, 1);
        draw();
      });
      box.append(
        h('div', { class: 'row', 'data-option': String(i) }, field(`Option ${i + 1}: key`, oid, `${base}.id`), field('Title', title, `${base}.title`), field('Go to', next, `${base}.next`), remove),
      );
    });
    const add = h('button', { type: 'button', class: 'secondary' }, 'Add option');
    add.addEventListener('click', () => {
      options.push({ id: String(options.length + 1), title: '', next: '' });
      draw();
      stepsBox.querySelector<HTMLInputElement>(`[name="steps.${CSS.escape(id)}.options.${options.length - 1}.title"]`)?.focus();
    });
    box.append(add);
    return box;
  };

  const rename = (from: string, to: string) => {
    const steps: Record<string, Step> = {};
    for (const [k, s] of Object.entries(def.steps)) steps[k === from ? to : k] = s;
    for (const s of Object.values(steps)) {
      for (const [path, target] of branches(s)) {
        if (target !== from) continue;
        const m = /^options\.(\d+)\.next$/.exec(path);
        if (m) (s.options as Option[])[Number(m[1])]!.next = to;
        else s[path] = to;
      }
    }
    if (def.start === from) def.start = to;
    def.steps = steps;
  };

  const stepBox = (id: string, step: Step, reached: boolean): HTMLElement => {
    const idInput = h('input', { type: 'text', name: `step-id-${id}`, value: id, pattern: STEP_ID.source });
    const idError = h('div', { class: 'error', role: 'alert' });
    idInput.addEventListener('change', () => {
      const to = idInput.value.trim();
      if (to === id) return;
      if (!STEP_ID.test(to) || to in def.steps) {
        idError.textContent = to in def.steps ? `a step named ${to} exists` : 'letters, digits, _ and - only (at most 60)';
        return;
      }
      rename(id, to);
      draw();
    });
    const type = h('select', { name: `steps.${id}.type` }, ...TYPES.map(([t, label]) => h('option', { value: t, selected: t === step.type }, label)));
    type.addEventListener('change', () => {
      def.steps[id] = blank(type.value as StepType, step);
      draw();
    });
    const remove = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove step ${id}` }, 'Remove step');
    remove.addEventListener('click', () => {
      delete def.steps[id];
      draw();
    });
    const fields = (FIELDS[step.type] ?? []).map(([k, label, kind]) => fieldFor(id, step, k, label, kind));
    if (step.type === 'menu') fields.splice(1, 0, optionsFor(id, step));
    return h(
      'fieldset',
      { 'data-step': id },
      h('legend', {}, `${id === def.start ? '▶ ' : ''}${id}`, h('span', { class: 'muted', 'data-unreached': '' }, reached ? '' : UNREACHED)),
      h('div', { class: 'error', role: 'alert', 'data-error-for': `steps.${id}` }),
      h('div', { class: 'row' }, h('div', {}, h('label', { for: (idInput.id = `flow-step-${id}`) }, 'Step id'), idInput, idError), field('Type', type, `steps.${id}.type`), remove),
      ...fields,
    );
  };

  const newId = h('input', { type: 'text', name: 'new-step-id', placeholder: 'ask_cpf', pattern: STEP_ID.source });
  const newType = h('select', { name: 'new-step-type' }, ...TYPES.map(([t, label]) => h('option', { value: t }, label)));
  const newError = h('div', { class: 'error', role: 'alert' });
  const addStep = h('button', { type: 'button', class: 'secondary' }, 'Add step');
  addStep.addEventListener('click', () => {
    const id = newId.value.trim();
    newError.textContent = '';
    if (!STEP_ID.test(id)) return void (newError.textContent = 'Step id: letters, digits, _ and - only (at most 60)');
    if (id in def.steps) return void (newError.textContent = `a step named ${id} exists`);
    def.steps[id] = blank(newType.value as StepType);
    newId.value = '';
    draw();
    stepsBox.querySelector<HTMLElement>(`[data-step="${CSS.escape(id)}"] input, [data-step="${CSS.escape(id)}"] textarea`)?.focus();
  });

  function draw(): void {
    stepOptions(startSelect, def.start, false);
    const { order, reached } = readingOrder(def);
    stepsBox.replaceChildren(...order.map((id) => stepBox(id, def.steps[id]!, reached.has(id))));
    drawOutline();
  }
  startSelect.addEventListener('change', () => {
    def.start = startSelect.value;
    draw();
  });

  const versions = h('div', {});
  const loadVersions = async () => {
    const list = await ctx.api.get<Array<{ version: number; createdAt: string }>>('chat-ingress', '/flow/versions');
    versions.replaceChildren(
      table(['Version', 'Published', ''], list, (v) => [
        String(v.version),
        when(v.createdAt),
        h('button', { type: 'button', class: 'secondary', 'aria-label': `Load version ${v.version} into the editor`, onclick: async () => {
          const got = await ctx.api.get<FlowVersion>('chat-ingress', `/flow/versions/${v.version}`);
          def = got.definition;
          clearErrors(form);
          status.textContent = `Editing a copy of version ${v.version}: publish it to make it the current flow.`;
          draw();
        } }, 'Load'),
      ], 'No version yet.'),
    );
  };

  const publish = h('button', { type: 'submit' }, 'Validate and publish');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearErrors(form);
    publish.disabled = true;
    ctx.api
      .put<FlowVersion>('chat-ingress', '/flow', def)
      .then(async (saved) => {
        status.textContent = `Published: version ${saved.version} (${when(saved.createdAt)}). New conversations use it; those already inside keep theirs.`;
        ctx.notify(`Bot flow version ${saved.version} published.`);
        await loadVersions();
      })
      .catch((err: unknown) => {
        showErrors(form, err);
        const first = form.querySelector<HTMLElement>('[aria-invalid="true"]');
        first?.focus();
        ctx.notify('The flow was not published: see the problems beside the steps.', 'bad');
      })
      .finally(() => (publish.disabled = false));
  });

  form.append(
    status,
    field('Start with', startSelect, 'start'),
    h('h2', {}, 'Steps'),
    stepsBox,
    h('fieldset', {}, h('legend', {}, 'New step'), h('div', { class: 'row' }, field('Step id', newId), field('Type', newType), addStep), newError),
    formError(),
    h('div', { class: 'actions' }, publish),
  );
  draw();
  await loadVersions();
  card.append(
    h('h1', { id: 'flow-title' }, 'Bot flow'),
    datalist,
    h('details', { open: true }, h('summary', {}, 'Outline (steps and their branches)'), outline),
    h('details', {}, h('summary', {}, 'Definition as sent (JSON)'), json),
    form,
    h('h2', {}, 'Versions'),
    versions,
  );
  return card;
}
