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

/** Does the event match the integration's trigger (type and every filter)? */
export function matchesTrigger(trigger: TriggerDto, type: string, data: unknown): boolean {
  if (!trigger.eventTypes.includes(type)) return false;
  for (const f of trigger.filter ?? []) {
    const value = lookup(data, f.field);
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
