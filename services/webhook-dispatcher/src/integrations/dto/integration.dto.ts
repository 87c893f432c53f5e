import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize, ArrayMinSize, IsArray, IsBoolean, IsIn, IsInt, IsNotEmpty, IsObject, IsOptional, IsString,
  IsUUID, Matches, Max, MaxLength, Min, ValidateBy, ValidateIf, ValidateNested,
} from 'class-validator';
import { isEventType } from '@elo/contracts';
import { isReservedHeader } from '@elo/http-egress';
import { IsTimestamp } from '@elo/platform';
import { HEADER_INVALID, listTokens, renderUrl, TemplateError } from '@elo/templating';

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export const DEFAULT_RETRY_SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000];
export const DEFAULT_TIMEOUT_MS = 10_000;
/** An integration failing without a single success for this long is disabled (5 days). */
export const DEFAULT_DISABLE_AFTER_SECONDS = 5 * 86_400;
/** After a rotation the previous signing secret keeps signing for this long. */
export const ROTATION_GRACE_SECONDS = 24 * 3600;

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const MAX_HEADERS = 100;

/** HttpEgress sets these itself and refuses them from us: saved, every delivery would fail as `invalid`. */
function reservedHeaderProblem(name: string): string {
  return `header ${name} is set by the HTTP client and cannot be sent by an integration`;
}

export class HeaderPairDto {
  @ApiProperty()
  @IsString() @Matches(HEADER_NAME) name!: string;
  @ApiProperty()
  @IsString() @MaxLength(4000) value!: string;
}

/** What is wrong with headers given as `{name, value}` pairs or as `Name: value` lines, or undefined when nothing is. */
export function headersProblem(v: unknown): string | undefined {
  if (typeof v === 'string') {
    const lines = v.split(/\r?\n/).filter((l) => l.trim());
    if (lines.length > MAX_HEADERS) return `at most ${MAX_HEADERS} headers`;
    for (const line of lines) {
      const i = line.indexOf(':');
      const name = line.slice(0, i).trim();
      if (i <= 0 || !HEADER_NAME.test(name)) return `headers line "${line.slice(0, 60)}" is not "Name: value"`;
      if (isReservedHeader(name)) return reservedHeaderProblem(name);
      if (line.length > 4200) return `headers line "${line.slice(0, 60)}…" is too long`;
      if (HEADER_INVALID.test(line.slice(i + 1).trim())) return `headers line "${name}" holds CR, LF or characters not allowed in a header`;
    }
    return undefined;
  }
  if (Array.isArray(v)) {
    if (v.length > MAX_HEADERS) return `at most ${MAX_HEADERS} headers`;
    for (const h of v as unknown[]) {
      const pair = h as { name?: unknown; value?: unknown } | null;
      if (!pair || typeof pair !== 'object' || typeof pair.name !== 'string' || !HEADER_NAME.test(pair.name) || typeof pair.value !== 'string' || pair.value.length > 4000) {
        return 'each header is {"name": a header name, "value": a string of at most 4000 characters}';
      }
      if (isReservedHeader(pair.name)) return reservedHeaderProblem(pair.name);
      if (HEADER_INVALID.test(pair.value.trim())) return `header ${pair.name} holds CR, LF or characters not allowed in a header`;
    }
    return undefined;
  }
  return 'headers are a list of {name, value} pairs or text with one "Name: value" per line';
}

/** Headers as pairs or as lines, checked when saved: a bad header is a 400, not a delivery that can never be sent. */
function IsHeaders(): PropertyDecorator {
  return ValidateBy({
    name: 'isHeaders',
    validator: {
      validate: (v: unknown) => headersProblem(v) === undefined,
      defaultMessage: (args) => `${args?.property ?? 'headers'}: ${headersProblem(args?.value) ?? 'invalid'}`,
    },
  });
}

/** The API-key helper's header name, checked when saved like the headers. */
function IsApiKeyHeader(): PropertyDecorator {
  return ValidateBy({
    name: 'isApiKeyHeader',
    validator: {
      validate: (v: unknown) => typeof v !== 'string' || !isReservedHeader(v),
      defaultMessage: (args) => reservedHeaderProblem(String(args?.value)),
    },
  });
}

const HTTP_URL = /^https?:\/\//i;

/**
 * What is wrong with a request URL template, or undefined when nothing is. It is checked by the render's own URL
 * rules with every token kept as written, so a URL is refused exactly when no values could ever make it render: the
 * scheme, credentials, host and port are literal (a token there, or a URL starting with a token, is refused by the
 * render whatever its value), and the result is an absolute http or https URL.
 */
function requestUrlProblem(url: unknown): string | undefined {
  if (typeof url !== 'string') return undefined;
  let shape: string;
  try {
    shape = renderUrl(url, Object.create(null) as object, 'keep');
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    if (err.token) return `must start with a literal http:// or https:// and host, tokens only after it; {${err.token}} stands in the scheme or host`;
    return `must be an absolute http or https URL, not "${url.slice(0, 60)}"`;
  }
  return HTTP_URL.test(shape) ? undefined : `must be an absolute http or https URL, not "${url.slice(0, 60)}"`;
}

/** The request URL, checked when saved: one that can never be sent is a 400, not a delivery failing forever. */
function IsRequestUrl(): PropertyDecorator {
  return ValidateBy({
    name: 'isRequestUrl',
    validator: {
      validate: (v: unknown) => requestUrlProblem(v) === undefined,
      defaultMessage: (args) => requestUrlProblem(args?.value) ?? 'invalid',
    },
  });
}

/** What is wrong with a URL fetched as written (a WSDL's: never templated), or undefined when nothing is. */
function httpUrlProblem(url: unknown): string | undefined {
  if (typeof url !== 'string') return undefined;
  const tokens = listTokens(url);
  if (tokens.length) return `is fetched as written and takes no tokens, not {${tokens[0]}}`;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  return parsed && (parsed.protocol === 'http:' || parsed.protocol === 'https:') && HTTP_URL.test(url)
    ? undefined
    : `must be an absolute http or https URL, not "${url.slice(0, 60)}"`;
}

/** A URL fetched as written, checked when given: a file:, ftp: or relative one is a 400 before anything is fetched. */
export function IsHttpUrl(): PropertyDecorator {
  return ValidateBy({
    name: 'isHttpUrl',
    validator: {
      validate: (v: unknown) => httpUrlProblem(v) === undefined,
      defaultMessage: (args) => httpUrlProblem(args?.value) ?? 'invalid',
    },
  });
}

/** The types among `types` that never trigger an integration: integration.* (our own outcomes, and requests by name). */
function neverTriggers(types: unknown): string[] {
  return Array.isArray(types) ? types.filter((t): t is string => typeof t === 'string' && t.startsWith('integration.')) : [];
}

/** Event types that trigger, checked when saved: a trigger naming one that never does is a 400. */
function TriggersIntegrations(): PropertyDecorator {
  return ValidateBy({
    name: 'triggersIntegrations',
    validator: {
      validate: (v: unknown) => !neverTriggers(v).length,
      defaultMessage: (args) => `integration.* events never trigger an integration: ${neverTriggers(args?.value).join(', ')}`,
    },
  });
}

/**
 * The types among `types` that are not in the event catalogue (integration.* ones are left to TriggersIntegrations).
 * A trigger matches an event's type exactly (matchesTrigger, and the consumer's `?|` query), so a pattern such as
 * `chat.*` is no type either: saved, it would never match anything.
 */
function unknownTypes(types: unknown): string[] {
  return Array.isArray(types)
    ? types.filter((t): t is string => typeof t === 'string' && !t.startsWith('integration.') && !isEventType(t))
    : [];
}

/** Event types of the catalogue, checked when saved: a trigger naming a type no event ever has is a 400. */
function InEventCatalogue(): PropertyDecorator {
  return ValidateBy({
    name: 'inEventCatalogue',
    validator: {
      validate: (v: unknown) => !unknownTypes(v).length,
      defaultMessage: (args) => {
        const unknown = unknownTypes(args?.value);
        const patterns = unknown.some((t) => /[*#?]/.test(t)) ? ' (types are matched exactly: name each one, patterns are not supported)' : '';
        return `not in the event catalogue: ${unknown.join(', ')}${patterns}`;
      },
    },
  });
}

export class KeyValueDto {
  @ApiProperty()
  @IsString() @IsNotEmpty() @MaxLength(500) key!: string;
  @ApiProperty()
  @IsString() @MaxLength(10_000) value!: string;
}

export class BodyDto {
  @ApiProperty({ enum: ['keyvalue', 'raw', 'form'] }) @IsIn(['keyvalue', 'raw', 'form']) kind!: 'keyvalue' | 'raw' | 'form';
  @ApiPropertyOptional({ type: () => [KeyValueDto] })
  @IsOptional() @IsArray() @ArrayMaxSize(500) @ValidateNested({ each: true }) @Type(() => KeyValueDto) pairs?: KeyValueDto[];
  @ApiPropertyOptional()
  @IsOptional() @IsString() @MaxLength(200) contentType?: string;
  @ApiPropertyOptional()
  @IsOptional() @IsString() @MaxLength(100_000) template?: string;
}

export class AuthDto {
  @ApiProperty({ enum: ['bearer', 'basic', 'apiKey'] }) @IsIn(['bearer', 'basic', 'apiKey']) type!: 'bearer' | 'basic' | 'apiKey';
  /** bearer: the token (usually `{secret.token}`). */
  @ApiPropertyOptional({ description: 'bearer: the token (usually `{secret.token}`).' })
  @IsOptional() @IsString() token?: string;
  @ApiPropertyOptional()
  @IsOptional() @IsString() username?: string;
  @ApiPropertyOptional()
  @IsOptional() @IsString() password?: string;
  /** apiKey: header name (default X-API-Key) and value. */
  @ApiPropertyOptional({ description: 'apiKey: header name (default X-API-Key) and value.' })
  @IsOptional() @IsString() @Matches(HEADER_NAME) @IsApiKeyHeader() header?: string;
  @ApiPropertyOptional()
  @IsOptional() @IsString() value?: string;
}

export class HttpRequestDto {
  @ApiProperty({ enum: HTTP_METHODS }) @IsIn(HTTP_METHODS) method!: (typeof HTTP_METHODS)[number];
  /** An absolute http(s) URL whose scheme and host are written out; tokens only in the path, query or fragment. */
  @ApiProperty({ description: 'An absolute http(s) URL whose scheme and host are written out; tokens only in the path, query or fragment.' })
  @IsString() @IsNotEmpty() @MaxLength(4000) @IsRequestUrl() url!: string;
  /** List of pairs, or text with one `Name: value` per line. */
  @ApiPropertyOptional({ oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'object' } }] })
  @IsOptional() @IsHeaders() headers?: HeaderPairDto[] | string;
  @ApiPropertyOptional({ type: () => [KeyValueDto] })
  @IsOptional() @IsArray() @ValidateNested({ each: true }) @Type(() => KeyValueDto) query?: KeyValueDto[];
  @ApiPropertyOptional({ type: () => BodyDto })
  @IsOptional() @ValidateNested() @Type(() => BodyDto) body?: BodyDto;
  @ApiPropertyOptional({ type: () => AuthDto })
  @IsOptional() @ValidateNested() @Type(() => AuthDto) auth?: AuthDto;
}

export class SoapParamDto {
  @ApiProperty()
  @IsString() @Matches(/^[A-Za-z_][\w.-]*$/) name!: string;
  /** A literal or tokens, e.g. `{callId}`. */
  @ApiProperty({ description: 'A literal or tokens, e.g. `{callId}`.' })
  @IsString() @MaxLength(10_000) value!: string;
}

export class SoapRequestDto {
  /** An absolute http(s) URL, fetched as written (no tokens). */
  @ApiProperty({ description: 'An absolute http(s) URL, fetched as written (no tokens).' })
  @IsString() @IsNotEmpty() @MaxLength(4000) @IsHttpUrl() wsdlUrl!: string;
  /** The WSDL operation to call (its SOAP action comes from the binding). */
  @ApiProperty({ description: 'The WSDL operation to call (its SOAP action comes from the binding).' })
  @IsString() @IsNotEmpty() @MaxLength(200) operation!: string;
  @ApiPropertyOptional({ enum: ['1.1', '1.2'] }) @IsOptional() @IsIn(['1.1', '1.2']) version?: '1.1' | '1.2';
  @ApiProperty({ type: () => [SoapParamDto] })
  @IsArray() @ArrayMaxSize(200) @ValidateNested({ each: true }) @Type(() => SoapParamDto) params!: SoapParamDto[];
  @ApiPropertyOptional({ oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'object' } }] })
  @IsOptional() @IsHeaders() headers?: HeaderPairDto[] | string;
  @ApiPropertyOptional({ type: () => AuthDto })
  @IsOptional() @ValidateNested() @Type(() => AuthDto) auth?: AuthDto;
}

export class FilterDto {
  /** A dotted field of the event's data (`message.text`, `ramal`), or the same under the entity's name (`call.ramal`). */
  @ApiProperty({ description: "A dotted field of the event's data (`message.text`, `ramal`), or the same under the entity's name (`call.ramal`, `viability.status`), as its token names it." })
  @IsString() @IsNotEmpty() field!: string;
  @ApiProperty({ enum: ['equals', 'contains'] }) @IsIn(['equals', 'contains']) op!: 'equals' | 'contains';
  @ApiProperty()
  @IsString() value!: string;
}

export class TriggerDto {
  /** Types of the event catalogue, matched exactly (no patterns); integration.* types never trigger. */
  @ApiProperty({ type: [String], description: 'Types of the event catalogue, matched exactly (no patterns); integration.* types never trigger.' })
  @IsArray() @ArrayMaxSize(50) @IsString({ each: true }) @TriggersIntegrations() @InEventCatalogue() eventTypes!: string[];
  @ApiPropertyOptional({ type: () => [FilterDto] })
  @IsOptional() @IsArray() @ValidateNested({ each: true }) @Type(() => FilterDto) filter?: FilterDto[];
}

export class DeliverySettingsDto {
  @ApiPropertyOptional({ type: [Number] })
  @IsOptional() @IsArray() @ArrayMinSize(0) @ArrayMaxSize(20) @IsInt({ each: true }) @Min(0, { each: true })
  @Max(7 * 86400, { each: true }) retryScheduleSeconds?: number[];
  @ApiPropertyOptional()
  @IsOptional() @IsInt() @Min(100) @Max(60_000) timeoutMs?: number;
  /** At most this many requests per second to the endpoint (all replicas together, each taking its share); unset = no limit. */
  @ApiPropertyOptional({ description: 'At most this many requests per second to the endpoint (all replicas together); unset = no limit.' })
  @IsOptional() @IsInt() @Min(1) @Max(10_000) rateLimitPerSecond?: number;
  /**
   * At most this many requests to the endpoint at once (all replicas together, each taking its share); unset =
   * DISPATCHER_PER_INTEGRATION_CONCURRENCY (16 unless configured), shared the same way.
   */
  @ApiPropertyOptional()
  @IsOptional() @IsInt() @Min(1) @Max(2_000) maxConcurrency?: number;
  /** Disable the integration when it has failed with no success for this many seconds. */
  @ApiPropertyOptional({ description: 'Disable the integration when it has failed with no success for this many seconds.' })
  @IsOptional() @IsInt() @Min(1) @Max(90 * 86_400) disableAfterFailingSeconds?: number;
}

/** Delivery settings as stored: defaults filled, limits present only when set. */
export interface DeliverySettings {
  retryScheduleSeconds: number[];
  timeoutMs: number;
  disableAfterFailingSeconds: number;
  rateLimitPerSecond?: number;
  maxConcurrency?: number;
}

export class ReplyDto {
  @ApiPropertyOptional()
  @IsOptional() @IsString() @MaxLength(4096) success?: string;
  @ApiPropertyOptional()
  @IsOptional() @IsString() @MaxLength(4096) failure?: string;
}

export class CreateIntegrationDto {
  @ApiProperty()
  @IsString() @IsNotEmpty() @MaxLength(200) name!: string;
  @ApiPropertyOptional()
  @IsOptional() @IsString() @MaxLength(2000) description?: string;
  @ApiProperty({ enum: ['http', 'soap'] }) @IsIn(['http', 'soap']) kind!: 'http' | 'soap';
  /** HTTP kind: the request template. */
  @ApiPropertyOptional({ type: () => HttpRequestDto, description: 'HTTP kind: the request template.' })
  @ValidateIf((o: CreateIntegrationDto) => o.kind !== 'soap') @ValidateNested() @Type(() => HttpRequestDto) request?: HttpRequestDto;
  /** SOAP kind: WSDL, operation and parameters. */
  @ApiPropertyOptional({ type: () => SoapRequestDto, description: 'SOAP kind: WSDL, operation and parameters.' })
  @ValidateIf((o: CreateIntegrationDto) => o.kind === 'soap') @ValidateNested() @Type(() => SoapRequestDto) soap?: SoapRequestDto;
  @ApiProperty({ type: () => TriggerDto })
  @ValidateNested() @Type(() => TriggerDto) trigger!: TriggerDto;
  @ApiPropertyOptional({ type: () => DeliverySettingsDto })
  @IsOptional() @ValidateNested() @Type(() => DeliverySettingsDto) delivery?: DeliverySettingsDto;
  /** Name → value; stored encrypted, usable as `{secret.<name>}`, never shown back. */
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'Name → value; stored encrypted, usable as `{secret.<name>}`, never shown back.' })
  @IsOptional() @IsObject() secrets?: Record<string, string>;
  @ApiPropertyOptional({ type: () => ReplyDto })
  @IsOptional() @ValidateNested() @Type(() => ReplyDto) reply?: ReplyDto;
  @ApiPropertyOptional()
  @IsOptional() @IsBoolean() enabled?: boolean;
}

export class UpdateIntegrationDto {
  @ApiPropertyOptional()
  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(200) name?: string;
  @ApiPropertyOptional()
  @IsOptional() @IsString() @MaxLength(2000) description?: string;
  @ApiPropertyOptional({ type: () => HttpRequestDto })
  @IsOptional() @ValidateNested() @Type(() => HttpRequestDto) request?: HttpRequestDto;
  @ApiPropertyOptional({ type: () => SoapRequestDto })
  @IsOptional() @ValidateNested() @Type(() => SoapRequestDto) soap?: SoapRequestDto;
  @ApiPropertyOptional({ type: () => TriggerDto })
  @IsOptional() @ValidateNested() @Type(() => TriggerDto) trigger?: TriggerDto;
  @ApiPropertyOptional({ type: () => DeliverySettingsDto })
  @IsOptional() @ValidateNested() @Type(() => DeliverySettingsDto) delivery?: DeliverySettingsDto;
  /** Merged into the stored secrets; a null value removes that secret. */
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'Merged into the stored secrets; a null value removes that secret.' })
  @IsOptional() @IsObject() secrets?: Record<string, string | null>;
  @ApiPropertyOptional({ type: () => ReplyDto })
  @IsOptional() @ValidateNested() @Type(() => ReplyDto) reply?: ReplyDto;
}

export class IdParam {
  @IsUUID() id!: string;
}

export class SampleEventDto {
  @ApiPropertyOptional()
  @IsOptional() @IsString() type?: string;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  @IsOptional() @IsObject() data?: Record<string, unknown>;
}

export const DELIVERY_OUTCOMES = ['pending', 'succeeded', 'failed'] as const;

export class PageQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 100 })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(500) limit?: number;
  /** The `X-Next-Cursor` of the previous page; it keeps that listing's filters. */
  @ApiPropertyOptional({ description: "The previous page's `X-Next-Cursor` header (opaque); it keeps that listing's filters." })
  @IsOptional() @IsString() @MaxLength(1000) cursor?: string;
}

export class DeliveriesQuery extends PageQuery {
  @ApiPropertyOptional({ enum: DELIVERY_OUTCOMES })
  @IsOptional() @IsIn(DELIVERY_OUTCOMES) outcome?: (typeof DELIVERY_OUTCOMES)[number];
  @ApiPropertyOptional({ description: 'Created at or after (ISO 8601)' }) @IsOptional() @IsTimestamp() from?: string;
  @ApiPropertyOptional({ description: 'Created before (ISO 8601)' }) @IsOptional() @IsTimestamp() to?: string;
  @ApiPropertyOptional({ description: 'The triggering event type, exactly (e.g. telephony.call.ended)' })
  // No U+0000: PostgreSQL refuses it even in a query's parameter (a 500 otherwise).
  // eslint-disable-next-line no-control-regex -- U+0000 is what it refuses
  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(200) @Matches(/^[^\u0000]*$/, { message: 'eventType cannot hold the NUL character (U+0000)' }) eventType?: string;
  @ApiPropertyOptional({ description: 'The last attempt\'s error class (timeout, dns, connection, tls, http_status, blocked, template, invalid)' })
  @IsOptional() @IsString() @Matches(/^[a-z_]{1,40}$/) errorClass?: string;
  @ApiPropertyOptional({ description: 'The last attempt\'s HTTP status', minimum: 100, maximum: 599 })
  @IsOptional() @Type(() => Number) @IsInt() @Min(100) @Max(599) httpStatus?: number;
}

export interface IntegrationView {
  id: string;
  name: string;
  description: string;
  kind: string;
  enabled: boolean;
  disabledReason: string | null;
  request?: HttpRequestDto;
  soap?: SoapRequestDto;
  trigger: TriggerDto;
  delivery: DeliverySettings;
  reply: ReplyDto;
  /** When the integration started failing (no success since), or null when healthy. */
  failingSince: string | null;
  /** Until when the previous signing secrets still sign (after a rotation; the last of them, when several rotations fell within 24 h). */
  previousSigningSecretExpiresAt: string | null;
  /** Secret names with masked values; the values are never returned. */
  secrets: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}
