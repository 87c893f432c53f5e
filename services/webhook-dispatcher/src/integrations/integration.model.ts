import type { DeliverySettings, HttpRequestDto, ReplyDto, SoapRequestDto, TriggerDto } from './dto/integration.dto';

/** An integrations row as stored (secrets still sealed). */
export interface IntegrationRow {
  id: string;
  tenant_id: string;
  name: string;
  description: string;
  kind: string;
  enabled: boolean;
  disabled_reason: string | null;
  /** HttpRequestDto for the http kind, SoapRequestDto for soap. */
  request: HttpRequestDto | SoapRequestDto;
  trigger: TriggerDto;
  delivery: DeliverySettings;
  reply: ReplyDto;
  secrets_sealed: string | null;
  secret_names: string[];
  /** The auth helper's literal credentials, sealed (JSON of token/password/value); null on rows saved before (kept in `request`). */
  auth_sealed: string | null;
  signing_secret_sealed: string;
  previous_signing_secret_sealed: string | null;
  previous_signing_expires_at: Date | string | null;
  failing_since: Date | string | null;
  created_at: Date;
  updated_at: Date;
}

/**
 * The name an event's data also goes by in templates and filters: the entity its type names, the segment before the
 * action (`telephony.call.ended` → `call`, `viability.checked` → `viability`, `chat.message.received` →
 * `message`), so `{call.ramal}` and `{ramal}` are the same field. A field of the data by that name wins.
 */
export function entityOf(type: string): string {
  const parts = type.split('.');
  return parts.length > 1 ? parts[parts.length - 2]! : parts[0]!;
}

/**
 * What an integration's reply into the chat sets off: the message it asks for (`chat.message.send.requested`), then
 * its sending, provider statuses and tracked moves. An integration triggered by one of these that replied would
 * trigger itself again with each reply, for ever.
 */
export const REPLY_CONSEQUENCES: readonly string[] = ['chat.message.send.requested', 'chat.message.sent', 'chat.message.status', 'message.status.changed', 'message.failed'];

/** The trigger's types a reply of the integration would set off again (empty when it may reply). */
export function replyLoopTypes(trigger: Pick<TriggerDto, 'eventTypes'>, reply: ReplyDto | null | undefined): string[] {
  if (!reply?.success && !reply?.failure) return [];
  return trigger.eventTypes.filter((t) => REPLY_CONSEQUENCES.includes(t));
}

/**
 * Does the event match the integration's trigger (type and every filter)? A filter names a field as a token does:
 * by its path inside `data`, or under the entity's name (`call.ramal`, `viability.status`).
 */
export function matchesTrigger(trigger: TriggerDto, type: string, data: unknown): boolean {
  if (!trigger.eventTypes.includes(type)) return false;
  const entity = entityOf(type);
  for (const f of trigger.filter ?? []) {
    let value = lookup(data, f.field);
    // `call.ramal` is `ramal` when the data has no field of the entity's name (as templateContext shows it).
    if (value === undefined && f.field.startsWith(`${entity}.`) && lookup(data, entity) === undefined) {
      value = lookup(data, f.field.slice(entity.length + 1));
    }
    if (value === undefined || value === null) return false;
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    if (f.op === 'equals' && text !== f.value) return false;
    if (f.op === 'contains' && !text.toLowerCase().includes(f.value.toLowerCase())) return false;
  }
  return true;
}

/**
 * The field's value in the event's data (JSON: own properties only). Following the prototype chain, a field such
 * as `constructor` read a function, which has no JSON text: `contains` then threw and failed the consumer's whole
 * batch, so the tenant's events of that type triggered none of its integrations.
 */
function lookup(data: unknown, field: string): unknown {
  let cur: unknown = data;
  for (const part of field.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}
