import { TemplateError } from './template-error';

/** Largest array index a bracket key may name; stops `a[999999999]` from allocating a huge array. */
export const MAX_BRACKET_INDEX = 10_000;
/**
 * Array items the keys of one body may make in all (gaps included): each index within MAX_BRACKET_INDEX, many keys
 * or nested ones (`k[10000][10000]…`) still built millions of nulls, a body of many megabytes.
 */
export const MAX_BRACKET_ITEMS = 100_000;

type Segment = { kind: 'key'; key: string } | { kind: 'index'; index: number } | { kind: 'append' };
type Container = Record<string, unknown> | unknown[];

function parseKey(key: string): Segment[] {
  const m = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(key);
  if (!m) throw new TemplateError(`invalid bracket key "${key}"`, key);
  const segments: Segment[] = [{ kind: 'key', key: m[1] }];
  for (const [, inner] of m[2].matchAll(/\[([^[\]]*)\]/g)) {
    if (inner === '') segments.push({ kind: 'append' });
    else if (/^\d+$/.test(inner)) {
      const index = Number(inner);
      if (index > MAX_BRACKET_INDEX)
        throw new TemplateError(`index ${inner} in "${key}" is over ${MAX_BRACKET_INDEX}`, key);
      segments.push({ kind: 'index', index });
    } else segments.push({ kind: 'key', key: inner });
  }
  return segments;
}

function isContainer(v: unknown): v is Container {
  return v !== null && typeof v === 'object';
}

function read(container: Container, seg: Segment): unknown {
  if (seg.kind === 'append') return undefined;
  if (Array.isArray(container)) return seg.kind === 'index' ? container[seg.index] : undefined;
  return seg.kind === 'key' && Object.prototype.hasOwnProperty.call(container, seg.key)
    ? container[seg.key]
    : undefined;
}

function write(container: Container, seg: Segment, value: unknown, key: string): void {
  if (Array.isArray(container)) {
    if (seg.kind === 'key') throw new TemplateError(`"${key}" uses a name where an array was built`, key);
    if (seg.kind === 'append') container.push(value);
    else container[seg.index] = value;
    return;
  }
  if (seg.kind !== 'key') throw new TemplateError(`"${key}" uses an index where an object was built`, key);
  // defineProperty: a key named "__proto__" becomes data, never the prototype.
  Object.defineProperty(container, seg.key, { value, enumerable: true, writable: true, configurable: true });
}

/** A shallow copy of a value's object or array, so keys added under it never change the caller's data. */
function copyOf(value: Container): Container {
  if (Array.isArray(value)) return value.slice();
  const copy: Record<string, unknown> = {};
  for (const k of Object.keys(value)) write(copy, { kind: 'key', key: k }, value[k], k);
  return copy;
}

/** Fills the gaps of the containers built here; values (often the event's own objects) are left alone. */
function fillHoles(value: unknown, built: WeakSet<object>): unknown {
  if (!isContainer(value) || !built.has(value)) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = i in value ? fillHoles(value[i], built) : null;
  } else {
    for (const k of Object.keys(value)) value[k] = fillHoles(value[k], built);
  }
  return value;
}

/**
 * Builds a nested object from form-style keys: `deal[name]` → {deal:{name}}, `contacts[0][name]` →
 * {contacts:[{name}]}, `tags[]` appends. A key that would overwrite a value or change an object into
 * an array (or back) is a conflict → TemplateError. Array gaps become null.
 */
export function buildFromBracketKeys(pairs: Array<{ key: string; value: unknown }>): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  // Containers made here; a value's object or array (`deal` = {deal}, then `deal[source]`) is copied
  // before a key is added under it, as it belongs to the context (shared by every later render).
  const built = new WeakSet<object>([root]);
  let items = 0;
  /** Counts the items a write into an array adds (the gap before an index included). */
  const grow = (container: Container, seg: Segment, key: string) => {
    if (!Array.isArray(container) || seg.kind === 'key') return;
    items += seg.kind === 'append' ? 1 : Math.max(0, seg.index + 1 - container.length);
    if (items > MAX_BRACKET_ITEMS) throw new TemplateError(`"${key}" makes the arrays of the body over ${MAX_BRACKET_ITEMS} items`, key);
  };
  for (const { key, value } of pairs) {
    const segments = parseKey(key);
    let container: Container = root;
    for (let i = 0; i < segments.length - 1; i++) {
      const seg = segments[i];
      const wantArray = segments[i + 1].kind !== 'key';
      const found = read(container, seg);
      let child: Container;
      if (found === undefined) {
        child = wantArray ? [] : {};
        built.add(child);
        grow(container, seg, key);
        write(container, seg, child, key);
      } else if (!isContainer(found) || Array.isArray(found) !== wantArray) {
        throw new TemplateError(`"${key}" conflicts with an earlier key`, key);
      } else if (!built.has(found)) {
        child = copyOf(found);
        built.add(child);
        write(container, seg, child, key);
      } else child = found;
      container = child;
    }
    const last = segments[segments.length - 1];
    if (read(container, last) !== undefined) throw new TemplateError(`"${key}" is set twice`, key);
    grow(container, last, key);
    write(container, last, value, key);
  }
  return fillHoles(root, built) as Record<string, unknown>;
}
