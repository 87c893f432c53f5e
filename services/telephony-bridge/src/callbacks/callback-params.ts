import { isValidCallId, RAMAL_RE } from '../calls/call-id';
import { normaliseBrPhone } from '@elo/contracts';
import { storableString } from '@elo/persistence';

export interface AnsweredParams {
  cid: string;
  ramal: string;
  num?: string;
  pid?: string;
  empresaId?: string;
}

export interface EndedParams {
  cid: string;
  ramal?: string;
  num?: string;
  empresaId?: string;
  duration?: number;
  disposition?: string;
}

export type FieldError = { field: string; message: string };

// eslint-disable-next-line no-control-regex -- control characters are what it refuses
const PRINTABLE = /^[^\u0000-\u001f\u007f]{1,128}$/;
const EMPRESA_RE = /^[A-Za-z0-9_.-]{1,64}$/;
// Letters of any language, accents composed or not: dialers send dispositions in Portuguese (`NÃO ATENDIDA`).
const DISPOSITION_RE = /^[\p{L}\p{M}\p{N}_ .-]{1,64}$/u;
const MAX_DURATION = 7 * 86_400;
// PBX panels and CDRs (Brazilian ones especially) send the duration as decimal seconds or as a clock.
const SECONDS_RE = /^\d{1,7}(?:\.\d{1,9})?$/;
// `hh:mm:ss` (minutes and seconds under 60) or `mm:ss` (seconds under 60); the leading field may run past 59.
const CLOCK_RE = /^(?:(\d{1,3}):([0-5]\d)|(\d{1,5})):([0-5]\d)$/;

/** A query or JSON value as text: strings, and numbers (some PBXs send ids as JSON numbers). */
function text(v: unknown): string | undefined {
  if (Array.isArray(v)) return undefined;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'string') return v.trim();
  return undefined;
}

/**
 * The duration in whole seconds, as the contract carries it: seconds, whole or decimal (`125`, `12.5`,
 * rounded), or `[hh:]mm:ss` (`00:02:05`, `2:05`); undefined when it is none of these or over MAX_DURATION.
 */
function durationSeconds(s: string): number | undefined {
  let seconds: number;
  const clock = CLOCK_RE.exec(s);
  if (clock) {
    const [, h, mm, m, ss] = clock;
    seconds = h !== undefined ? Number(h) * 3600 + Number(mm) * 60 + Number(ss) : Number(m) * 60 + Number(ss);
  } else if (SECONDS_RE.test(s)) {
    seconds = Number(s);
  } else {
    return undefined;
  }
  // The bound applies to what was sent: 604800.4 is over it even though it rounds to 604800.
  return seconds <= MAX_DURATION ? Math.round(seconds) : undefined;
}

function present(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '';
}

/** What PBXs send as the caller's number when the caller withheld it (besides an empty value). */
const WITHHELD = new Set(['anonymous', 'private', 'restricted', 'unavailable', 'unknown']);

/** A caller id the caller withheld: sent empty or as one of the PBXs' words for it. */
function withheld(v: unknown): boolean {
  const s = text(v);
  return s === '' || v === null || (s !== undefined && WITHHELD.has(s.toLowerCase()));
}

/**
 * The phone as stored: a valid Brazilian number normalised (area code + number, ninth digit),
 * otherwise any 3–20 digit number (extensions, international) as digits.
 */
function phone(v: unknown, errors: FieldError[], field: string): string | undefined {
  const s = text(v);
  if (s === undefined || !/^\+?[\d\s().-]{3,30}$/.test(s)) {
    errors.push({ field, message: 'must be a phone number (digits)' });
    return undefined;
  }
  const br = normaliseBrPhone(s);
  if (br) return br;
  const digits = s.replace(/\D/g, '');
  if (digits.length < 3 || digits.length > 20) {
    errors.push({ field, message: 'must be a phone number of 3 to 20 digits' });
    return undefined;
  }
  return digits;
}

function common(q: Record<string, unknown>, errors: FieldError[], ramalRequired: boolean) {
  const cid = text(q.cid);
  if (!present(q.cid)) errors.push({ field: 'cid', message: 'required (the PBX call id)' });
  else if (!isValidCallId(cid)) errors.push({ field: 'cid', message: 'must be 1-128 letters, digits, ".", "_", ":" or "-" (e.g. 1537276453.47245539)' });
  let ramal: string | undefined;
  if (!present(q.ramal)) {
    if (ramalRequired) errors.push({ field: 'ramal', message: 'required (the operator extension)' });
  } else {
    ramal = text(q.ramal);
    if (!ramal || !RAMAL_RE.test(ramal)) {
      errors.push({ field: 'ramal', message: 'must be 1-32 letters, digits, _, -, * or #' });
      ramal = undefined;
    }
  }
  let empresaId: string | undefined;
  if (present(q.empresaId)) {
    empresaId = text(q.empresaId);
    if (!empresaId || !EMPRESA_RE.test(empresaId)) errors.push({ field: 'empresaId', message: 'must be 1-64 letters, digits, ".", "_" or "-"' });
  }
  return { cid: cid ?? '', ramal, empresaId };
}

export function parseAnswered(q: Record<string, unknown>): { params?: AnsweredParams; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const { cid, ramal, empresaId } = common(q, errors, true);
  let num: string | undefined;
  // Absent is a PBX that does not send it; a withheld caller id is sent empty (or `anonymous`…) and pops without a phone.
  if (q.num === undefined) errors.push({ field: 'num', message: 'required (the customer phone; empty or "anonymous" when withheld)' });
  else if (!withheld(q.num)) num = phone(q.num, errors, 'num');
  let pid: string | undefined;
  if (present(q.pid)) {
    // A JSON body can carry a lone surrogate (`"\\ud800"`), which PostgreSQL's jsonb refuses: U+FFFD in its place.
    pid = text(q.pid);
    if (pid !== undefined) pid = storableString(pid);
    if (!pid || !PRINTABLE.test(pid)) errors.push({ field: 'pid', message: 'must be 1-128 printable characters' });
  }
  if (errors.length) return { errors };
  return { params: { cid, ramal: ramal!, num, ...(pid ? { pid } : {}), ...(empresaId ? { empresaId } : {}) }, errors };
}

export function parseEnded(q: Record<string, unknown>): { params?: EndedParams; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const { cid, ramal, empresaId } = common(q, errors, false);
  let duration: number | undefined;
  if (present(q.duration)) {
    const s = text(q.duration);
    duration = s !== undefined ? durationSeconds(s) : undefined;
    if (duration === undefined) {
      errors.push({ field: 'duration', message: `must be seconds (125 or 12.5) or [hh:]mm:ss (00:02:05), from 0 to ${MAX_DURATION} seconds (7 days)` });
    }
  }
  let disposition: string | undefined;
  if (present(q.disposition)) {
    disposition = text(q.disposition);
    if (!disposition || !DISPOSITION_RE.test(disposition)) errors.push({ field: 'disposition', message: 'must be 1-64 letters, digits, spaces, ".", "_" or "-"' });
  }
  const num = present(q.num) && !withheld(q.num) ? phone(q.num, errors, 'num') : undefined;
  if (errors.length) return { errors };
  return {
    params: {
      cid,
      ...(ramal ? { ramal } : {}),
      ...(num ? { num } : {}),
      ...(empresaId ? { empresaId } : {}),
      ...(duration !== undefined ? { duration } : {}),
      ...(disposition ? { disposition } : {}),
    },
    errors,
  };
}
