import { Type } from 'class-transformer';
import { IsArray, IsBoolean, IsIn, IsNumber, IsOptional, IsString, IsUUID, ValidateNested } from 'class-validator';
import { GeoPoint } from './common';

export class ViabilityRequested {
  @IsUUID() requestId!: string;
  @IsOptional() @IsUUID() conversationId?: string;
  @IsOptional() @IsUUID() channelId?: string;
  @IsOptional() @ValidateNested() @Type(() => GeoPoint) location?: GeoPoint;
  @IsOptional() @IsString() address?: string;
  /** Send the customer a FindME link instead (needs `phone`). */
  @IsOptional() @IsBoolean() findme?: boolean;
  @IsOptional() @IsString() phone?: string;
}

export const VIABILITY_STATUSES = ['viable', 'not_viable', 'not_found'] as const;
export type ViabilityStatus = (typeof VIABILITY_STATUSES)[number];

export class ViabilityBoxRef {
  @IsString() id!: string;
  @IsOptional() @IsString() externalId?: string;
  @IsString() name!: string;
  @IsNumber() distanceMeters!: number;
  @IsOptional() @IsNumber() freePorts?: number;
  @IsOptional() @IsString() status?: string;
  @IsOptional() @IsString() refusedBecause?: string;
}

export class ViabilityChecked {
  @IsOptional() @IsUUID() requestId?: string;
  @IsOptional() @IsUUID() conversationId?: string;
  @IsOptional() @IsUUID() channelId?: string;
  @IsIn(VIABILITY_STATUSES) status!: ViabilityStatus;
  @IsIn(['coordinates', 'address', 'chat_location', 'findme']) via!: string;
  @IsOptional() @ValidateNested() @Type(() => GeoPoint) location?: GeoPoint;
  @IsOptional() @ValidateNested() @Type(() => ViabilityBoxRef) box?: ViabilityBoxRef;
  @IsOptional() @ValidateNested() @Type(() => ViabilityBoxRef) pole?: ViabilityBoxRef;
  @IsOptional() @IsArray() @ValidateNested({ each: true }) @Type(() => ViabilityBoxRef) refused?: ViabilityBoxRef[];
  @IsOptional() @IsString() reason?: string;
}
