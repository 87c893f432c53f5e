import { ApiError } from './api';

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
    while (name && !(slot = form.querySelector<HTMLElement>(`[data-error-for="${CSS.escape(name)}"]`))) {
      name = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : '';
    }
    if (slot) {
      slot.textContent = [slot.textContent, e.message].filter(Boolean).join('; ');
      form.querySelector(`[data-field="${CSS.escape(name)}"]`)?.setAttribute('aria-invalid', 'true');
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
