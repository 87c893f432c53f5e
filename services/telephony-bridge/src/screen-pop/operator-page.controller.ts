import { Controller, Get, Param, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public } from '@elo/observability';
import { ProblemException } from '@elo/platform';
import type { Response } from 'express';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Where the built operator page lives: beside the sources in the repo, or under the working directory. */
export function operatorPageDir(): string | undefined {
  const candidates = [
    resolve(__dirname, '../../web/dist'),
    resolve(__dirname, '../../../../../services/telephony-bridge/web/dist'),
    resolve(process.cwd(), 'services/telephony-bridge/web/dist'),
  ];
  return candidates.find((d) => existsSync(join(d, 'index.html')));
}

/**
 * The operator's screen: static files only. The page asks for the API key, keeps it in
 * sessionStorage and sends it as a header, the event stream included (read with fetch streaming).
 */
@ApiExcludeController()
@Public()
@Controller('operator')
export class OperatorPageController {
  private readonly root = operatorPageDir();

  @Get()
  index(@Res() res: Response): void {
    this.send(res, 'index.html', 'no-cache');
  }

  @Get('assets/:file')
  asset(@Param('file') file: string, @Res() res: Response): void {
    if (!/^[\w.-]+$/.test(file) || file.startsWith('.')) throw new ProblemException(404, 'no such asset');
    this.send(res, `assets/${file}`, 'public, max-age=31536000, immutable');
  }

  private send(res: Response, path: string, cache: string): void {
    if (!this.root) throw new ProblemException(404, 'the operator page is not built (see services/telephony-bridge/web)');
    if (!existsSync(join(this.root, path))) throw new ProblemException(404, 'no such asset');
    res.setHeader('Cache-Control', cache);
    res.sendFile(path, { root: this.root, dotfiles: 'deny' });
  }
}
