type Attrs = Record<string, string | boolean | number | ((e: Event) => void) | undefined>;
type Child = Node | string | null | undefined | false;

/** Tiny element builder: text is always set as text, never parsed as HTML. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, '').toLowerCase(), v);
    else if (k === 'value' && 'value' in el) (el as HTMLInputElement).value = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

let seq = 0;
export const uid = (p: string): string => `${p}-${++seq}`;

/** A labelled input; `field` names the API field whose problem errors appear under it. */
export function field(label: string, input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, fieldName?: string): HTMLDivElement {
  input.id ||= uid('f');
  const err = h('div', { class: 'error', role: 'alert', 'data-error-for': fieldName ?? input.name ?? '' });
  if (fieldName) input.setAttribute('data-field', fieldName);
  input.setAttribute('aria-describedby', (err.id = uid('e')));
  return h('div', {}, h('label', { for: input.id }, label), input, err);
}

export function pre(value: unknown): HTMLPreElement {
  return h('pre', {}, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
}

/** Empties an element. */
export function clear(el: HTMLElement): HTMLElement {
  el.replaceChildren();
  return el;
}

/** A table; `cells` returns one entry per column (text or nodes). Each cell carries its column's label for the 360 px layout. */
export function table<T>(columns: string[], items: T[], cells: (item: T) => Child[], empty = 'Nothing yet.'): HTMLElement {
  if (!items.length) return h('p', { class: 'muted' }, empty);
  return h(
    'table',
    {},
    h('thead', {}, h('tr', {}, ...columns.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, ...items.map((it) => h('tr', {}, ...cells(it).map((c, i) => h('td', { 'data-label': columns[i] ?? '' }, c))))),
  );
}

/** A button copying `text` to the clipboard. */
export function copyButton(text: string, label = 'Copy'): HTMLButtonElement {
  const b = h('button', { type: 'button', class: 'secondary' }, label);
  b.addEventListener('click', () => {
    void navigator.clipboard?.writeText(text).then(() => (b.textContent = 'Copied'), () => (b.textContent = 'Select and copy'));
  });
  return b;
}

/** Local date and time, or a dash. */
export function when(v: string | Date | null | undefined): string {
  return v ? new Date(v).toLocaleString() : '—';
}
