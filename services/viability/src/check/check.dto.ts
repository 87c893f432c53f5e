import { ApiPropertyOptional } from '@nestjs/swagger';
import { validationPipe } from '@elo/platform';
import { IsLatitude, IsLongitude, IsNotEmpty, IsString, MaxLength, ValidateIf, isLatitude, isLongitude } from 'class-validator';

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
 * The body of `POST /viability` as CheckDto, with the platform's verdict and messages. The common body,
 * `{ lat, lng }` as two numbers that CheckDto's own rules accept, is taken as it is: the same verdict
 * and the same values class-transformer and class-validator would give, without their cost on every
 * check (about 6% of the service's CPU a check). Anything else (an address, a string, a missing or extra
 * field, a bad value) goes through the platform's ValidationPipe as before, which answers it or throws
 * its 400.
 */
export async function checkBody(body: unknown): Promise<CheckDto> {
  if (typeof body === 'object' && body !== null && Object.getPrototypeOf(body) === Object.prototype) {
    const b = body as Record<string, unknown>;
    const { lat, lng } = b;
    if (typeof lat === 'number' && typeof lng === 'number' && Object.keys(b).length === 2 && Object.hasOwn(b, 'lat') && Object.hasOwn(b, 'lng') && isLatitude(lat as unknown as string) && isLongitude(lng as unknown as string)) {
      return { lat, lng };
    }
  }
  return (await pipe.transform(body, { type: 'body', metatype: CheckDto })) as CheckDto;
}
