import { ApiPropertyOptional } from '@nestjs/swagger';
import { validationPipe } from '@elo/platform';
import { IsLatitude, IsLongitude, IsNotEmpty, IsString, MaxLength, ValidateIf } from 'class-validator';

/** Coordinates, or an address to locate first. */
export class CheckDto {
  @ApiPropertyOptional({ example: -25.4284 }) @ValidateIf((d: CheckDto) => d.address === undefined) @IsLatitude() lat?: number;
  @ApiPropertyOptional({ example: -49.2733 }) @ValidateIf((d: CheckDto) => d.address === undefined) @IsLongitude() lng?: number;
  @ApiPropertyOptional({ example: 'Rua XV de Novembro, 700, Curitiba' })
  @ValidateIf((d: CheckDto) => d.lat === undefined && d.lng === undefined)
  @IsString() @IsNotEmpty() @MaxLength(500)
  address?: string;
}

const pipe = validationPipe();

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
  return (await pipe.transform(body, { type: 'body', metatype: CheckDto })) as CheckDto;
}
