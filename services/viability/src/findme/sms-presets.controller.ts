import { Body, Controller, Get, HttpCode, Put } from '@nestjs/common';
import { ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission, tenantIdOf, type Principal } from '@elo/auth';
import { ProblemException } from '@elo/platform';
import { IsNotEmpty, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { FindmeService } from './findme.service';
import { SMS_PRESETS, templateFromPreset } from './sms-presets';

export class SmsPresetDto {
  @ApiProperty({ enum: Object.keys(SMS_PRESETS) }) @IsString() @IsNotEmpty() @MaxLength(40) preset!: string;
  @ApiPropertyOptional({ description: "The provider's API base URL (each preset has the provider's own as default)" })
  @IsOptional() @Matches(/^https?:\/\/[^\s?#]+$/, { message: 'baseUrl must be an http(s) URL without query or fragment' }) @MaxLength(2000)
  baseUrl?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(500) accountSid?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(500) authToken?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(500) token?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(500) apiKey?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(500) apiSecret?: string;
  @ApiPropertyOptional({ description: 'Sender number or id' }) @IsOptional() @IsString() @MaxLength(100) from?: string;
  @ApiPropertyOptional({ description: 'SMS text; {link} is the FindME link (Portuguese default)' }) @IsOptional() @IsString() @MaxLength(500) text?: string;
}

@ApiTags('findme')
@Controller('findme/sms')
export class SmsPresetsController {
  constructor(private readonly findme: FindmeService) {}

  @Get('presets')
  @RequirePermission('viability:manage')
  @ApiOperation({ summary: 'SMS provider presets and the account fields each needs' })
  presets() {
    return Object.entries(SMS_PRESETS).map(([id, p]) => ({ id, name: p.name, description: p.description, fields: p.fields, defaultBaseUrl: p.defaultBaseUrl }));
  }

  @Put('preset')
  @HttpCode(204)
  @RequirePermission('viability:manage')
  @ApiOperation({ summary: 'Use a preset for the FindME SMS (turned into the generic HTTP template, stored encrypted)' })
  async use(@CurrentPrincipal() p: Principal, @Body() dto: SmsPresetDto): Promise<void> {
    const { preset, baseUrl, text, ...fields } = dto;
    const template = templateFromPreset(preset, fields, baseUrl);
    if (typeof template === 'string') throw new ProblemException(400, template);
    await this.findme.setSmsTemplate(tenantIdOf(p), { ...template, ...(text ? { text } : {}) });
  }
}
