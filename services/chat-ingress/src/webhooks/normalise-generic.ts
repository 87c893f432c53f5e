import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import type { InboundMessage } from '@elo/contracts';
import { GenericEventDto } from './dto/generic-webhook.dto';
import { strip } from './normalise-meta';
import { normalisePhone } from '@elo/contracts';
import { arr, invalidItem, isObj, type Normalised, type StatusItem } from './normalised';

const flat = (errs: ValidationError[], p = ''): string[] =>
  errs.flatMap((e) => [...Object.values(e.constraints ?? {}).map((m) => `${p}${e.property}: ${m}`), ...flat(e.children ?? [], `${p}${e.property}.`)]);

/** The generic channel's documented schema (GenericWebhookDto), checked event by event. */
export function normaliseGeneric(body: unknown): Normalised | { error: string } {
  if (!isObj(body) || !Array.isArray(body.events)) return { error: 'body must be an object with an events array' };
  const out: Normalised = { messages: [], statuses: [] };
  for (const raw of arr(body.events)) {
    const ev = plainToInstance(GenericEventDto, raw);
    const problems = isObj(raw) ? flat(validateSync(ev)) : ['event must be an object'];
    if (ev.type === 'message' && (!ev.contact || !ev.message)) problems.push('message events need contact and message');
    if (ev.type === 'status' && !ev.status) problems.push('status events need status');
    if (problems.length) {
      if (isObj(raw) && raw.type === 'status') continue;
      out.messages.push(invalidItem(raw, problems.join('; '), isObj(raw) ? raw.id : undefined));
      continue;
    }
    if (ev.type === 'status') {
      out.statuses.push({ providerMessageId: ev.id, status: ev.status as StatusItem['status'], providerTimestamp: new Date(ev.timestamp), error: ev.error ? strip({ ...ev.error }) : undefined });
      continue;
    }
    // A platform's own format may be national (41 98844-5566): read as POST /messages reads a phone, Brazilian
    // unless it carries a country code, so both paths name the same customer by the same number.
    const phone = normalisePhone(ev.contact!.phone, 'BR');
    const m = ev.message!;
    const message = strip({
      kind: m.kind, text: m.text, media: m.media ? strip({ ...m.media }) : undefined,
      location: m.location ? strip({ ...m.location }) : undefined, reply: m.reply ? strip({ ...m.reply }) : undefined, contacts: m.contacts,
    }) as InboundMessage;
    out.messages.push({
      providerMessageId: ev.id,
      contact: strip({ key: ev.contact!.id, providerUserId: ev.contact!.id, phone: phone?.e164, phoneAlt: phone?.alt, name: ev.contact!.name }),
      message,
      providerTimestamp: new Date(ev.timestamp),
      state: 'received',
    });
  }
  return out;
}
