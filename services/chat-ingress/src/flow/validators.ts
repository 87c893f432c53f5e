import { normalisePhone } from '@elo/contracts';
import { isValidPhoneNumber } from 'libphonenumber-js/max';

/** Answers a bot-flow question accepts; each returns the value to store or undefined when invalid. */
export type AnswerKind = 'text' | 'email' | 'cpf' | 'cnpj' | 'cpf_cnpj' | 'phone' | 'date';

/** A local part, then a domain of dot-separated labels (none empty: no trailing dot) ending in one of two or more characters. */
const EMAIL = /^[^\s@]+@(?:[^\s@.]+\.)+[^\s@.]{2,}$/;

export function isValidCpf(input: string): boolean {
  const d = input.replace(/[.\-\s]/g, '');
  if (!/^\d{11}$/.test(d) || /^(\d)\1{10}$/.test(d)) return false;
  const digit = (len: number) => {
    let sum = 0;
    for (let i = 0; i < len; i++) sum += Number(d[i]) * (len + 1 - i);
    const r = (sum * 10) % 11;
    return r === 10 ? 0 : r;
  };
  return digit(9) === Number(d[9]) && digit(10) === Number(d[10]);
}

/**
 * CNPJ, numeric or the alphanumeric format issued from July 2026: twelve characters of [0-9A-Z] and two
 * numeric check digits, each character weighted by its char code minus 48 (so digits keep their value).
 */
export function isValidCnpj(input: string): boolean {
  const c = input.toUpperCase().replace(/[.\-/\s]/g, '');
  if (!/^[0-9A-Z]{12}\d{2}$/.test(c) || /^(\d)\1{13}$/.test(c)) return false;
  const value = (ch: string) => ch.charCodeAt(0) - 48;
  const digit = (len: number) => {
    const weights = len === 12 ? [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2] : [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
    let sum = 0;
    for (let i = 0; i < len; i++) sum += value(c[i]) * weights[i];
    const r = sum % 11;
    return r < 2 ? 0 : 11 - r;
  };
  return digit(12) === Number(c[12]) && digit(13) === Number(c[13]);
}

/** dd/mm/yyyy or yyyy-mm-dd, a real calendar day; stored as yyyy-mm-dd. */
export function parseDate(input: string): string | undefined {
  const t = input.trim();
  let y: number, m: number, d: number;
  let match = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$/.exec(t);
  if (match) [d, m, y] = [Number(match[1]), Number(match[2]), Number(match[3])];
  else if ((match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(t))) [y, m, d] = [Number(match[1]), Number(match[2]), Number(match[3])];
  else return undefined;
  const date = new Date(Date.UTC(y, m - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) return undefined;
  return date.toISOString().slice(0, 10);
}

export function validateAnswer(kind: AnswerKind, raw: string): string | undefined {
  const t = raw.trim();
  if (!t) return undefined;
  switch (kind) {
    case 'text':
      return t;
    case 'email':
      return EMAIL.test(t) ? t.toLowerCase() : undefined;
    case 'cpf':
      return isValidCpf(t) ? t.replace(/\D/g, '') : undefined;
    case 'cnpj':
      return isValidCnpj(t) ? t.toUpperCase().replace(/[.\-/\s]/g, '') : undefined;
    case 'cpf_cnpj':
      return validateAnswer('cpf', t) ?? validateAnswer('cnpj', t);
    case 'phone': {
      // normalisePhone takes what providers send as they send it, so any ten or eleven digits pass it: a customer's answer
      // must also be a number some line can have (full metadata: area codes that exist, the ranges numbers start with).
      const e164 = normalisePhone(t, 'BR')?.e164;
      return e164 && isValidPhoneNumber(e164) ? e164 : undefined;
    }
    case 'date':
      return parseDate(t);
  }
}
