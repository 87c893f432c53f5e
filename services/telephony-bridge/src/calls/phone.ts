import { parsePhoneNumberFromString } from 'libphonenumber-js';

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

/** E.164 form of a normalised BR number (`+5541988445566`). */
export function toE164(national: string): string {
  return `+55${national}`;
}
