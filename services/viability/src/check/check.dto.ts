import { ApiPropertyOptional } from '@nestjs/swagger';
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
