import { ApiProperty } from '@nestjs/swagger';
import { IsLatitude, IsLongitude } from 'class-validator';

export class CheckDto {
  @ApiProperty({ example: -25.4284 }) @IsLatitude() lat!: number;
  @ApiProperty({ example: -49.2733 }) @IsLongitude() lng!: number;
}
