import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize, ArrayNotEmpty, ArrayUnique, IsArray, IsIn, IsInt, IsNotEmpty, IsOptional, IsString, Matches, Max, MaxLength, Min,
} from 'class-validator';
import { TENANT_PERMISSIONS } from '../permissions';

/**
 * Text PostgreSQL can keep: JSON carries U+0000 and lone surrogates, which a text column (NUL) or the audit row's
 * jsonb (both) refuse, so such a name failed the request with a 500.
 */
// eslint-disable-next-line no-control-regex -- U+0000 is what it refuses
const STORABLE = /^[^\u0000\p{Cs}]*$/u;
const STORABLE_MESSAGE = { message: '$property must not contain NUL characters (U+0000) or lone surrogates' };

export class CreateTenantDto {
  @ApiProperty({ example: 'Acme Telecom' })
  @IsString() @IsNotEmpty() @MaxLength(200) @Matches(/\S/, { message: 'name must not be blank' }) @Matches(STORABLE, STORABLE_MESSAGE)
  name!: string;
}

export class CreateKeyDto {
  @ApiProperty({ example: 'crm integration' })
  @IsString() @IsNotEmpty() @MaxLength(200) @Matches(/\S/, { message: 'name must not be blank' }) @Matches(STORABLE, STORABLE_MESSAGE)
  name!: string;

  @ApiProperty({ enum: TENANT_PERMISSIONS, isArray: true })
  @IsArray() @ArrayNotEmpty() @ArrayUnique() @ArrayMaxSize(TENANT_PERMISSIONS.length)
  @IsIn(TENANT_PERMISSIONS, { each: true, message: `each permission must be one of: ${TENANT_PERMISSIONS.join(', ')}` })
  permissions!: string[];
}

/** Longest grace period a rotated key may keep working: one day. */
export const MAX_ROTATION_GRACE_SECONDS = 86_400;

export class RotateKeyDto {
  @ApiPropertyOptional({
    description: 'Seconds the old key keeps working after rotation (default 0: revoked at once; at most 86400)',
    minimum: 0,
    maximum: MAX_ROTATION_GRACE_SECONDS,
  })
  // A JSON number, not converted: `true`, `[300]` or `""` became 1, 300 or 0 seconds.
  @IsOptional() @IsInt() @Min(0) @Max(MAX_ROTATION_GRACE_SECONDS)
  graceSeconds?: number;
}

export class AuditQueryDto {
  @ApiPropertyOptional({ description: 'Cursor: `nextBefore` of the previous page', minimum: 1, maximum: Number.MAX_SAFE_INTEGER })
  // Bounded: a larger number reached PostgreSQL as a bigint out of range (or `1e+30`) and failed the query (500).
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(Number.MAX_SAFE_INTEGER)
  before?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 100 })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(500)
  limit?: number;
}

export class TenantView {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() createdAt!: Date;
}

export class KeyView {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ description: 'Public part of the key (elo_<prefix>_…), safe to show' }) prefix!: string;
  @ApiProperty({ isArray: true, type: String }) permissions!: string[];
  @ApiProperty() createdAt!: Date;
  @ApiPropertyOptional({ nullable: true, type: Date }) lastUsedAt!: Date | null;
  @ApiPropertyOptional({ nullable: true, type: Date, description: 'In the future while a rotated key is in its grace period' })
  revokedAt!: Date | null;
  @ApiPropertyOptional({ nullable: true, type: String }) rotatedFrom!: string | null;
}

export class CreatedKeyView {
  @ApiProperty() id!: string;
  @ApiProperty({ description: 'The full key: shown in this answer only, stored hashed' }) key!: string;
  @ApiProperty() prefix!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ isArray: true, type: String }) permissions!: string[];
  @ApiPropertyOptional({ nullable: true, type: String }) rotatedFrom?: string | null;
  @ApiPropertyOptional({ nullable: true, type: Date, description: 'When the replaced key stops working' })
  previousKeyExpiresAt?: Date | null;
}

/** GET /auth/me: the calling key, never its secret. */
export class WhoAmIView {
  @ApiProperty({ description: 'The key id, or `admin` for the bootstrap admin key' }) keyId!: string;
  @ApiProperty() name!: string;
  @ApiPropertyOptional({ nullable: true, type: String, description: 'Public part of the key; null for the admin key' }) prefix!: string | null;
  @ApiPropertyOptional({ nullable: true, type: String, description: 'null for the bootstrap admin key' }) tenantId!: string | null;
  @ApiProperty({ isArray: true, type: String }) permissions!: string[];
  @ApiProperty() isAdmin!: boolean;
}
