import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsTimestamp, validationPipe } from '@elo/platform';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsLatitude, IsLongitude, IsNotEmpty, IsOptional, IsString, Matches, Max, MaxLength, Min, ValidateIf } from 'class-validator';
import type { Outcome } from './viability.service';
import type { CheckRequest } from './checks.service';

/** Coordinates are checked when given (they win over an address), or when there is no address. */
const coordinatesAsked = (d: CheckDto) => d.address === undefined || d.lat !== undefined || d.lng !== undefined;

/** Coordinates, or an address to locate first (coordinates win when both are sent). */
export class CheckDto {
  @ApiPropertyOptional({ example: -25.4284 }) @ValidateIf(coordinatesAsked) @IsLatitude() lat?: number;
  @ApiPropertyOptional({ example: -49.2733 }) @ValidateIf(coordinatesAsked) @IsLongitude() lng?: number;
  @ApiPropertyOptional({ example: 'Rua XV de Novembro, 700, Curitiba', description: 'Ignored when lat and lng are sent' })
  @ValidateIf((d: CheckDto) => d.lat === undefined && d.lng === undefined)
  @IsString() @IsNotEmpty() @MaxLength(500) @Matches(/\S/, { message: 'address must not be blank' })
  address?: string;
}

const pipe = validationPipe();

/**
 * A coordinate the validation accepted, as a number. IsLatitude / IsLongitude accept decimal strings
 * too ("-25.4284", as a form-encoded body or a loose JSON client sends them); the check does arithmetic
 * on them, where a string concatenates. Every way in (HTTP, FindME, the bus) hands numbers to the check.
 */
export function toCoordinates(p: { lat: number | string; lng: number | string }): { lat: number; lng: number } {
  return { lat: Number(p.lat), lng: Number(p.lng) };
}

/**
 * class-validator's isLatitude / isLongitude for a number, without building and matching its string:
 * they match `${value}` against a decimal pattern within ±90 / ±180, and a number's string is decimal
 * except below 1e-6 (and from 1e21) in magnitude, where it turns to exponent notation and fails
 * (0 is "0"). The spec holds both to the same verdict.
 */
const decimalWithin = (v: number, limit: number) => Number.isFinite(v) && Math.abs(v) <= limit && (v === 0 || Math.abs(v) >= 1e-6);

/**
 * The body of `POST /viability` as CheckDto, with the platform's verdict and messages. The common body,
 * `{ lat, lng }` as two numbers that CheckDto's own rules accept, is taken as it is: the same verdict
 * and the same values class-transformer and class-validator would give, without their cost on every
 * check (about 7% of the service's CPU profile). Anything else (an address, a string, a missing or extra
 * field, a bad value) goes through the platform's ValidationPipe as before, which answers it or throws
 * its 400.
 */
export async function checkBody(body: unknown): Promise<CheckDto> {
  if (typeof body === 'object' && body !== null && Object.getPrototypeOf(body) === Object.prototype) {
    const b = body as Record<string, unknown>;
    const { lat, lng } = b;
    if (typeof lat === 'number' && typeof lng === 'number' && Object.keys(b).length === 2 && Object.hasOwn(b, 'lat') && Object.hasOwn(b, 'lng') && decimalWithin(lat, 90) && decimalWithin(lng, 180)) {
      return { lat, lng };
    }
  }
  const dto = (await pipe.transform(body, { type: 'body', metatype: CheckDto })) as CheckDto;
  if (dto.lat === undefined || dto.lng === undefined) return dto;
  return toCoordinates({ lat: dto.lat, lng: dto.lng });
}

export const CHECK_OUTCOMES = ['viable', 'not_viable', 'not_found'] as const satisfies readonly Outcome[];
export const CHECK_VIAS = ['coordinates', 'address', 'chat_location', 'findme'] as const satisfies readonly CheckRequest['via'][];

/** `GET /viability/checks`: the filters of the first page; later pages pass the cursor (which keeps them). */
export class ChecksQuery {
  @ApiPropertyOptional({ enum: CHECK_OUTCOMES, description: 'not_viable and not_found: where customers asked and the network does not serve yet' })
  @IsOptional() @IsIn(CHECK_OUTCOMES) status?: (typeof CHECK_OUTCOMES)[number];
  @ApiPropertyOptional({ enum: CHECK_VIAS, description: 'How the check came: HTTP with coordinates or an address, a chat location, a FindME link' })
  @IsOptional() @IsIn(CHECK_VIAS) via?: (typeof CHECK_VIAS)[number];
  @ApiPropertyOptional({ description: 'Checked at or after (ISO 8601)' }) @IsOptional() @IsTimestamp() from?: string;
  @ApiPropertyOptional({ description: 'Checked before (ISO 8601)' }) @IsOptional() @IsTimestamp() to?: string;
  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 100 })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(500) limit?: number;
  @ApiPropertyOptional({ description: "The previous page's nextCursor (opaque); it keeps that listing's filters" })
  @IsOptional() @IsString() @MaxLength(1000) cursor?: string;
}
