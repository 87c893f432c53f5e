import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsNotEmpty, IsObject, IsOptional, IsString, MaxLength } from 'class-validator';

export class TransferDto {
  @ApiProperty({ description: 'Target queue (department), e.g. the channel\'s human queue.' })
  @IsString() @IsNotEmpty() @MaxLength(100) queue!: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(200) agentId?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(200) agentName?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(500) reason?: string;
}

export class AssignDto {
  @ApiProperty() @IsString() @IsNotEmpty() @MaxLength(200) agentId!: string;
  @ApiPropertyOptional({ description: 'Shown to the customer when the pickup notice is `with_agent_name`.' })
  @IsOptional() @IsString() @MaxLength(200) agentName?: string;
}

export class CloseDto {
  @ApiPropertyOptional({ default: 'agent' }) @IsOptional() @IsString() @MaxLength(200) reason?: string;
}

export class ContactAttributesDto {
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(300) name?: string;
  @ApiProperty({ description: 'Merged into the contact\'s attributes (name, email, cpf, cnpj, address, any custom field); null removes a key.', type: Object })
  @IsObject() attributes!: Record<string, string | null>;
}

export class QueueAgentDto {
  @ApiProperty() @IsString() @IsNotEmpty() @MaxLength(200) agentId!: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(200) agentName?: string;
}

export class ListConversationsQuery {
  @ApiPropertyOptional({ enum: ['open', 'closed'] }) @IsOptional() @IsIn(['open', 'closed']) status?: 'open' | 'closed';
  @ApiPropertyOptional() @IsOptional() @IsString() queue?: string;
}
