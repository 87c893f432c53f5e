import { parsePhoneNumberFromString } from 'libphonenumber-js';

/*
 * Phones as Elo's events carry them: chat contacts in E.164 (`contact.phone`), calls as a PBX dials them
 * (`telefone`, area code + number). Brazil's ninth digit is applied both ways.
 */

export interface NormalisedPhone {
  /** Canonical E.164 (Brazilian mobiles with the ninth digit). */
  e164: string;
  /** The other form the same line is known by (Brazilian mobile without / with the ninth digit). */
  alt?: string;
}

/**
 * Normalises a phone as providers send it (WhatsApp `wa_id` has no "+") to E.164. Brazilian mobiles
 * still arrive in the old eight-digit form (5541 8844 5566); both forms are returned so either matches.
 */
export function normalisePhone(raw: string | undefined | null, defaultCountry: 'BR' | undefined = undefined): NormalisedPhone | undefined {
  if (!raw) return undefined;
  const digits = raw.replace(/[^\d+]/g, '');
  if (!digits) return undefined;
  const withPlus = digits.startsWith('+') ? digits : defaultCountry && digits.length <= 11 ? digits : `+${digits}`;
  const parsed = parsePhoneNumberFromString(withPlus, defaultCountry);
  if (!parsed) return undefined;
  const cc = parsed.countryCallingCode;
  const national = parsed.nationalNumber;
  if (cc === '55') return brazil(national);
  if (!parsed.isPossible()) return undefined;
  return { e164: parsed.number };
}

function brazil(national: string): NormalisedPhone | undefined {
  if (national.length === 10) {
    const area = national.slice(0, 2);
    const subscriber = national.slice(2);
    // Mobile subscriber numbers start with 6-9; landlines (2-5) never had the ninth digit.
    if (/^[6-9]/.test(subscriber)) return { e164: `+55${area}9${subscriber}`, alt: `+55${national}` };
    return { e164: `+55${national}` };
  }
  if (national.length === 11 && national[2] === '9') {
    return { e164: `+55${national}`, alt: `+55${national.slice(0, 2)}${national.slice(3)}` };
  }
  if (national.length === 11) return { e164: `+55${national}` };
  return undefined;
}

/**
 * A Brazilian phone as PBXs dial it: area code + number (`41988445566`). Accepts national forms
 * with or without the trunk 0, +55/55 prefixes and punctuation; an old 8-digit mobile
 * (`4188445566`, subscriber starting 6–9) gets its ninth digit. Undefined when not a valid number.
 */
export function normaliseBrPhone(input: string): string | undefined {
  if (typeof input !== 'string' || input.length > 40 || !/^[\d\s()+.-]+$/.test(input)) return undefined;
  let digits = input.replace(/\D/g, '');
  if (input.trim().startsWith('+')) {
    if (!digits.startsWith('55')) return undefined;
    digits = digits.slice(2);
  } else if (digits.length >= 12 && digits.startsWith('55')) digits = digits.slice(2);
  if (digits.length === 11 && digits.startsWith('0')) digits = digits.slice(1);
  if (digits.length === 12 && digits.startsWith('0')) digits = digits.slice(1);
  if (digits.length === 10 && /^[1-9][1-9][6-9]/.test(digits)) digits = `${digits.slice(0, 2)}9${digits.slice(2)}`;
  if ((digits.length !== 10 && digits.length !== 11) || !/^[1-9]{2}/.test(digits)) return undefined;
  const parsed = parsePhoneNumberFromString(digits, 'BR');
  if (!parsed || !parsed.isValid()) return undefined;
  const national = parsed.nationalNumber.toString();
  return national === digits ? national : undefined;
}
