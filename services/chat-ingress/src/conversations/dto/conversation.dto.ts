import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsNotEmpty, IsOptional, IsString, Max, MaxLength, Min, ValidateBy } from 'class-validator';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** Keys whose value is neither a string nor null: anything else would be stored as its String() form. */
const notStrings = (v: Record<string, unknown>): string[] => Object.keys(v).filter((k) => typeof v[k] !== 'string' && v[k] !== null);

/** An object of strings or nulls; the message names every other value. */
const IsAttributes = () =>
  ValidateBy({
    name: 'isAttributes',
    validator: {
      validate: (v: unknown) => isRecord(v) && notStrings(v).length === 0,
      defaultMessage: (args) => {
        const v: unknown = args?.value;
        return isRecord(v) ? `${notStrings(v).map((k) => `$property.${k}`).join(', ')} must be a string or null` : '$property must be an object of strings or nulls';
      },
    },
  });

export class TransferDto {
  @ApiPropertyOptional({ description: 'Target queue (department); absent: the channel\'s human queue (settings.humanQueue).' })
  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(100) queue?: string;
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
  @ApiProperty({ description: 'Merged into the contact\'s attributes (name, email, cpf, cnpj, address, any custom field); values are strings, null removes a key.', type: Object, additionalProperties: { type: 'string', nullable: true } })
  @IsAttributes() attributes!: Record<string, string | null>;
}

export class QueueAgentDto {
  @ApiProperty() @IsString() @IsNotEmpty() @MaxLength(200) agentId!: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(200) agentName?: string;
}

export const CONVERSATION_STATUSES = ['open', 'closed'] as const;

/** `GET /conversations`: the filters of the first page; later pages pass the cursor (which keeps them). */
export class ListConversationsQuery {
  @ApiPropertyOptional({ enum: CONVERSATION_STATUSES }) @IsOptional() @IsIn(CONVERSATION_STATUSES) status?: 'open' | 'closed';
  @ApiPropertyOptional() @IsOptional() @IsString() @IsNotEmpty() @MaxLength(100) queue?: string;
  @ApiPropertyOptional({ default: 100, minimum: 1, maximum: 500 })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(500) limit?: number;
  @ApiPropertyOptional({ description: "The previous page's nextCursor (opaque); it keeps that listing's filters" })
  @IsOptional() @IsString() @MaxLength(1000) cursor?: string;
}
