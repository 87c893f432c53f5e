import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min, ValidateNested } from 'class-validator';

export class RepliesDto {
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(1000) viable?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(1000) not_viable?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(1000) not_found?: string;
}

export class SettingsDto {
  @ApiPropertyOptional({ description: 'Maximum drop distance in metres (default 150)' })
  @IsOptional() @IsInt() @Min(1) @Max(5000) maxDropMeters?: number;
  @ApiPropertyOptional({ enum: ['radius', 'pole'] }) @IsOptional() @IsIn(['radius', 'pole']) mode?: 'radius' | 'pole';
  @ApiPropertyOptional({ description: 'Check location messages customers send in the chat, and reply' })
  @IsOptional() @IsBoolean() chatLocationChecks?: boolean;
  @ApiPropertyOptional({ type: RepliesDto, description: 'Reply templates per outcome; {box} and {distance} are filled in' })
  @IsOptional() @ValidateNested() @Type(() => RepliesDto) replies?: RepliesDto;
}
