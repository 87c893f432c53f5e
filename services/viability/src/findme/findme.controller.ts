import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Put, Res } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission, tenantIdOf, type Principal } from '@elo/auth';
import { normalisePhone } from '@elo/contracts';
import { Public } from '@elo/observability';
import { ProblemException } from '@elo/platform';
import type { RequestTemplate } from '@elo/templating';
import type { Response } from 'express';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { toCoordinates } from '../check/check.dto';
import { ConfirmDto, CreateFindmeDto, LocateDto, SmsTemplateDto } from './findme.dto';
import { FindmeService } from './findme.service';

/** The built map page: next to the sources, or copied beside the compiled service. */
const PAGE_DIRS = [join(__dirname, '..', '..', 'web', 'dist'), join(process.cwd(), 'services', 'viability', 'web', 'dist')];
const pageRoot = () => PAGE_DIRS.find((d) => existsSync(join(d, 'index.html')));
const TOKEN = /^[\w-]{20,64}$/;

@ApiTags('findme')
@Controller('findme')
export class FindmeController {
  constructor(private readonly findme: FindmeService) {}

  @Post()
  @RequirePermission('viability:check')
  @ApiOperation({ summary: 'Send the customer a single-use, expiring link (by SMS) to a map page where they mark their location' })
  create(@CurrentPrincipal() p: Principal, @Body() dto: CreateFindmeDto) {
    // SMS providers want E.164 (Twilio's To, the presets' {phone}); a chatbot often has the national form.
    const phone = normalisePhone(dto.phone, 'BR')?.e164;
    if (!phone) throw new ProblemException(400, 'phone: not a phone number (E.164, or a Brazilian number with its area code)');
    return this.findme.create(tenantIdOf(p), { ...dto, phone });
  }

  // Under links/: GET /findme/<one segment> is the customer's public map page.
  @Get('links/:id')
  @RequirePermission('viability:check')
  @ApiOperation({ summary: "A FindME link's state (open, used, expired), its SMS, its answer and its callback's progress (for a chatbot that polls)" })
  link(@CurrentPrincipal() p: Principal, @Param('id', new ParseUUIDPipe()) id: string) {
    return this.findme.get(tenantIdOf(p), id);
  }

  @Put('sms')
  @HttpCode(204)
  @RequirePermission('viability:manage')
  @ApiOperation({ summary: 'The SMS provider as a generic HTTP request template ({phone}, {link}, {text}); stored encrypted' })
  async sms(@CurrentPrincipal() p: Principal, @Body() dto: SmsTemplateDto): Promise<void> {
    await this.findme.setSmsTemplate(tenantIdOf(p), dto as RequestTemplate & { text?: string });
  }

  @Get('assets/:file')
  @Public()
  @ApiExcludeEndpoint()
  asset(@Param('file') file: string, @Res() res: Response): void {
    const root = pageRoot();
    if (!root || !/^[\w.-]+$/.test(file) || file.startsWith('.') || !existsSync(join(root, 'assets', file))) throw new ProblemException(404, 'no such asset');
    res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    res.sendFile(`assets/${file}`, { root, dotfiles: 'deny' });
  }

  @Get(':token')
  @Public()
  @ApiExcludeEndpoint()
  page(@Param('token') token: string, @Res() res: Response): void {
    const root = pageRoot();
    if (!root) throw new ProblemException(404, 'the FindME page is not built (see services/viability/web)');
    if (!TOKEN.test(token)) throw new ProblemException(404, 'this link does not exist');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.sendFile('index.html', { root, dotfiles: 'deny' });
  }

  @Get(':token/state')
  @Public()
  @ApiOperation({ summary: 'Whether a FindME link is open, used or expired (the page asks)' })
  state(@Param('token') token: string) {
    if (!TOKEN.test(token)) throw new ProblemException(404, 'this link does not exist');
    return this.findme.state(token);
  }

  @Post(':token/locate')
  @Public()
  @HttpCode(200)
  @ApiOperation({ summary: 'Where is this address? For the page of an open link (the pin goes there; the customer still confirms)' })
  locate(@Param('token') token: string, @Body() dto: LocateDto) {
    if (!TOKEN.test(token)) throw new ProblemException(404, 'this link does not exist');
    return this.findme.locate(token, dto.address);
  }

  @Post(':token/confirm')
  @Public()
  @HttpCode(200)
  @ApiOperation({ summary: "The customer's confirmed location; spends the link and answers the check" })
  confirm(@Param('token') token: string, @Body() dto: ConfirmDto) {
    if (!TOKEN.test(token)) throw new ProblemException(404, 'this link does not exist');
    return this.findme.confirm(token, toCoordinates(dto));
  }
}
