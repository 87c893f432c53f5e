import { ApiError } from './api';

/** The first match that is shown (a field can have two editors, one hidden), else the first match. */
function visibleFirst(form: HTMLElement, selector: string): HTMLElement | null {
  const all = [...form.querySelectorAll<HTMLElement>(selector)];
  return all.find((e) => !e.closest('[hidden]')) ?? all[0] ?? null;
}

/** Clears the errors shown in a form. */
export function clearErrors(form: HTMLElement): void {
  form.querySelectorAll<HTMLElement>('[data-error-for]').forEach((e) => (e.textContent = ''));
  form.querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
}

/**
 * Puts a problem's `errors[]` next to the fields they name (`request.headers.0.name` falls back to
 * `request.headers`, then `request`), and the rest in the form's general error slot.
 */
export function showErrors(form: HTMLElement, err: unknown): void {
  clearErrors(form);
  const general = form.querySelector<HTMLElement>('[data-error-for="_form"]');
  if (!(err instanceof ApiError)) {
    if (general) general.textContent = err instanceof Error ? err.message : String(err);
    return;
  }
  const rest: string[] = [];
  for (const e of err.problem.errors ?? []) {
    let name = e.field ?? '';
    let slot: HTMLElement | null = null;
    while (name && !(slot = visibleFirst(form, `[data-error-for="${CSS.escape(name)}"]`))) {
      name = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : '';
    }
    if (slot) {
      slot.textContent = [slot.textContent, e.message].filter(Boolean).join('; ');
      visibleFirst(form, `[data-field="${CSS.escape(name)}"]`)?.setAttribute('aria-invalid', 'true');
    } else rest.push(e.field ? `${e.field}: ${e.message}` : e.message);
  }
  if (general) general.textContent = rest.length || !err.problem.errors?.length ? [err.message, ...rest].join(' — ') : '';
}

/** Disables `button` while `work` runs; shows the error in `form` (next to the fields), or clears errors on success. */
export async function submitting<T>(form: HTMLElement, button: HTMLButtonElement | null, work: () => Promise<T>): Promise<T | undefined> {
  clearErrors(form);
  button?.setAttribute('disabled', '');
  button?.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } catch (e) {
    showErrors(form, e);
    return undefined;
  } finally {
    button?.removeAttribute('disabled');
    button?.removeAttribute('aria-busy');
  }
}

/** The general error slot of a form (problems not tied to one field). */
export function formError(): HTMLDivElement {
  const d = document.createElement('div');
  d.className = 'error';
  d.setAttribute('role', 'alert');
  d.setAttribute('data-error-for', '_form');
  return d;
}

export interface Pair {
  key: string;
  value: string;
}

export interface RowsEditor {
  el: HTMLElement;
  /** Non-empty rows, in order. */
  get(): Pair[];
  set(rows: Pair[]): void;
}

/**
 * Key/value rows with add and remove buttons. `field` is the API field holding the list
 * (`request.body.pairs`): problems about `<field>.<i>.key` sit under row i, others under the list.
 * `names` maps the pair to the API's property names (`{key: 'name'}` for headers).
 */
export function rowsEditor(opts: {
  legend: string;
  field: string;
  keyLabel?: string;
  valueLabel?: string;
  keyPlaceholder?: string;
  valuePlaceholder?: string;
  rows?: Pair[];
  onChange?: () => void;
  keyName?: string;
  valueName?: string;
}): RowsEditor {
  const list = document.createElement('div');
  const fs = document.createElement('fieldset');
  const legend = document.createElement('legend');
  legend.textContent = opts.legend;
  const err = formSlot(opts.field);
  const add = document.createElement('button');
  add.type = 'button';
  add.className = 'secondary';
  add.textContent = `Add ${opts.keyLabel?.toLowerCase() ?? 'row'}`;
  fs.append(legend, list, err, add);
  const keyName = opts.keyName ?? 'key';
  const valueName = opts.valueName ?? 'value';

  function row(p: Pair): HTMLElement {
    const i = list.children.length;
    const r = document.createElement('div');
    r.className = 'row pair';
    const mk = (label: string, value: string, name: string, placeholder?: string) => {
      const wrap = document.createElement('div');
      const input = document.createElement('input');
      input.value = value;
      input.id = `${opts.field}-${i}-${name}-${Math.random().toString(36).slice(2, 7)}`;
      input.setAttribute('data-role', name === keyName ? 'key' : 'value');
      input.setAttribute('data-field', `${opts.field}.${i}.${name}`);
      if (placeholder) input.placeholder = placeholder;
      input.addEventListener('input', () => opts.onChange?.());
      const l = document.createElement('label');
      l.htmlFor = input.id;
      l.textContent = `${label} ${i + 1}`;
      wrap.append(l, input, formSlot(`${opts.field}.${i}.${name}`));
      return wrap;
    };
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'secondary';
    remove.textContent = 'Remove';
    remove.setAttribute('aria-label', `Remove ${opts.keyLabel?.toLowerCase() ?? 'row'} ${i + 1}`);
    remove.addEventListener('click', () => {
      r.remove();
      opts.onChange?.();
    });
    r.append(mk(opts.keyLabel ?? 'Key', p.key, keyName, opts.keyPlaceholder), mk(opts.valueLabel ?? 'Value', p.value, valueName, opts.valuePlaceholder), remove);
    return r;
  }
  add.addEventListener('click', () => {
    const r = row({ key: '', value: '' });
    list.append(r);
    r.querySelector('input')?.focus();
  });
  const api: RowsEditor = {
    el: fs,
    get: () => {
      // Renumbered on every read, so the API's `<field>.<i>.key` problems land on the row that was sent as i.
      const out: Pair[] = [];
      for (const r of list.querySelectorAll<HTMLElement>('.pair')) {
        const k = r.querySelector<HTMLInputElement>('[data-role="key"]');
        const v = r.querySelector<HTMLInputElement>('[data-role="value"]');
        const key = k?.value.trim() ?? '';
        if (!key) continue;
        const i = out.length;
        for (const [input, name] of [[k, keyName], [v, valueName]] as const) {
          input?.setAttribute('data-field', `${opts.field}.${i}.${name}`);
          input?.parentElement?.querySelector('[data-error-for]')?.setAttribute('data-error-for', `${opts.field}.${i}.${name}`);
        }
        out.push({ key, value: v?.value ?? '' });
      }
      return out;
    },
    set: (rows) => {
      list.replaceChildren();
      for (const p of rows) list.append(row(p));
    },
  };
  api.set(opts.rows ?? []);
  return api;
}

/** An error slot for an API field. */
export function formSlot(fieldName: string): HTMLDivElement {
  const d = document.createElement('div');
  d.className = 'error';
  d.setAttribute('data-error-for', fieldName);
  return d;
}
