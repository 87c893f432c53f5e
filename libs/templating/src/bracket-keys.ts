import { TemplateError } from './template-error';

/** Largest array index a bracket key may name; stops `a[999999999]` from allocating a huge array. */
export const MAX_BRACKET_INDEX = 10_000;

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

function fillHoles(value: unknown): unknown {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = i in value ? fillHoles(value[i]) : null;
  } else if (isContainer(value)) {
    for (const k of Object.keys(value))
      (value as Record<string, unknown>)[k] = fillHoles((value as Record<string, unknown>)[k]);
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
  for (const { key, value } of pairs) {
    const segments = parseKey(key);
    let container: Container = root;
    for (let i = 0; i < segments.length - 1; i++) {
      const seg = segments[i];
      const wantArray = segments[i + 1].kind !== 'key';
      let child = read(container, seg);
      if (child === undefined) {
        child = wantArray ? [] : {};
        write(container, seg, child, key);
      } else if (!isContainer(child) || Array.isArray(child) !== wantArray) {
        throw new TemplateError(`"${key}" conflicts with an earlier key`, key);
      }
      container = child as Container;
    }
    const last = segments[segments.length - 1];
    if (read(container, last) !== undefined) throw new TemplateError(`"${key}" is set twice`, key);
    write(container, last, value, key);
  }
  return fillHoles(root) as Record<string, unknown>;
}
