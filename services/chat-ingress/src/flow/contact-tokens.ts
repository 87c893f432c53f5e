/**
 * The contact's fields a bot text can show: `{contact.name}`, `{contact.phone}` and `{contact.attributes.<attribute>}`
 * (a question step's answer, say), the names an integration step's context gives them.
 */
const TOKEN = /\{contact\.([^{}]*)\}/g;
const FIELD = /^(name|phone|attributes\.[^{}\s]+)$/;

export interface ContactFields {
  name: string | null;
  phone: string | null;
  attributes: Record<string, unknown> | null;
}

/** Whether a text names the contact's fields (only then is the contact read). */
export const namesContact = (text: string): boolean => text.includes('{contact.');

/** The `{contact.…}` tokens of a text that name no field (a flow naming one is refused). */
export function unknownContactTokens(text: string): string[] {
  return [...text.matchAll(TOKEN)].filter((m) => !FIELD.test(m[1]!)).map((m) => m[0]);
}

/** The text with the contact's fields in it; a field the contact does not have (an unanswered question) is left empty. */
export function withContact(text: string, c: ContactFields): string {
  return text.replace(TOKEN, (token, field: string) => {
    if (!FIELD.test(field)) return token;
    const v = field === 'name' ? c.name : field === 'phone' ? c.phone : c.attributes?.[field.slice('attributes.'.length)];
    return v === null || v === undefined ? '' : String(v);
  });
}
