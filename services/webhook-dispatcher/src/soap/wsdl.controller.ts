import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { RequirePermission } from '@elo/auth';
import { ProblemException } from '@elo/platform';
import { IsNotEmpty, IsString, MaxLength } from 'class-validator';
import { DEFAULT_TIMEOUT_MS, IsHttpUrl } from '../integrations/dto/integration.dto';
import { WsdlService, type WsdlOperationSummary } from './wsdl.service';

export class WsdlOperationsDto {
  /** An absolute http(s) URL; anything else is a 400 before any fetch. */
  @ApiProperty({ description: 'The WSDL to read: an absolute http or https URL (fetched through the egress policy).' })
  @IsString() @IsNotEmpty() @MaxLength(4000) @IsHttpUrl() wsdlUrl!: string;
}

/** Reads a WSDL for whoever configures a SOAP integration: its operations and their parameters. */
@ApiTags('integrations')
@ApiBearerAuth()
@Controller('wsdl')
export class WsdlController {
  constructor(private readonly wsdl: WsdlService) {}

  @Post('operations')
  @HttpCode(200)
  @RequirePermission('integrations:manage')
  @ApiOperation({ summary: 'Fetch a WSDL (through the egress policy) and list its operations with their request parameters' })
  async operations(@Body() dto: WsdlOperationsDto): Promise<{ operations: WsdlOperationSummary[] }> {
    try {
      return { operations: await this.wsdl.operations(dto.wsdlUrl, DEFAULT_TIMEOUT_MS) };
    } catch (err) {
      const message = `the WSDL could not be read: ${(err as Error).message}`;
      throw new ProblemException(422, message, { errors: [{ field: 'wsdlUrl', message }] });
    }
  }
}
