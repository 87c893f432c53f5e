import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, IsUUID, Matches, MaxLength } from 'class-validator';
import { RAMAL_RE } from '../call-id';

export class Click2CallDto {
  @ApiProperty({ example: '1001', description: 'operator extension that rings first' })
  @IsString() @Matches(RAMAL_RE, { message: 'ramal must be 1-32 letters, digits, _, -, * or #' }) ramal!: string;

  @ApiProperty({ example: '41988445566', description: 'customer phone: area code + number (punctuation, 0 and +55 are accepted)' })
  @IsString() @MaxLength(40) telefone!: string;

  @ApiPropertyOptional({ description: 'PBX profile to use; defaults to the tenant\'s first profile' })
  @IsOptional() @IsUUID() profileId?: string;
}

export class CallStartedView {
  @ApiProperty({ example: '1537276453.47245539' }) callId!: string;
  @ApiProperty() profileId!: string;
  @ApiProperty() ramal!: string;
  @ApiProperty({ example: '41988445566' }) telefone!: string;
}
