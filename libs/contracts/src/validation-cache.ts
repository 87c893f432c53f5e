import { getMetadataStorage } from 'class-validator';

type Lookup = (target: object, schema: string, always: boolean, strictGroups: boolean, groups?: string[]) => unknown[];

interface Storage {
  getTargetValidationMetadatas: Lookup;
  addValidationMetadata: (metadata: unknown) => void;
}

let installed = false;
let version = 0;

/** Counts the rules registered since the memo was installed: what was derived from older rules is stale. */
export function validationRulesVersion(): number {
  return version;
}

/**
 * class-validator resolves a class's rules on every validate() by scanning every decorated class in
 * the process (for inherited rules), so an event payload or a DTO costs more the more classes a
 * service has (typestack/class-validator#2686). The resolved rules of a class only change when rules
 * are registered, so they are memoised per (class, schema, options) and forgotten whenever a rule is
 * added. Installed once per process, on the storage every decorator and validate() call share.
 */
export function memoiseValidationMetadata(): void {
  if (installed) return;
  installed = true;
  const storage = getMetadataStorage() as unknown as Storage;
  const lookup = storage.getTargetValidationMetadatas.bind(storage);
  const add = storage.addValidationMetadata.bind(storage);
  let cache = new Map<string, WeakMap<object, unknown[]>>();
  storage.addValidationMetadata = (metadata) => {
    cache = new Map();
    version++;
    add(metadata);
  };
  storage.getTargetValidationMetadatas = (target, schema, always, strictGroups, groups) => {
    const key = `${schema}\u0000${always}\u0000${strictGroups}\u0000${groups?.join('\u0000') ?? ''}`;
    let byTarget = cache.get(key);
    if (!byTarget) cache.set(key, (byTarget = new WeakMap()));
    let rules = byTarget.get(target);
    if (!rules) byTarget.set(target, (rules = lookup(target, schema, always, strictGroups, groups)));
    return rules;
  };
}
