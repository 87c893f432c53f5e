import { Controller, Get, Param, Res, type Type } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public } from '@elo/observability';
import type { Response } from 'express';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ProblemException } from './problem-details.filter';

export interface StaticPageOptions {
  /** Route the page is served at, e.g. `dashboard`. */
  route: string;
  /** Candidate folders holding the built page (index.html + assets/); the first that exists wins. */
  distDirs: string[];
  /** Said in the 404 when no build is found, e.g. `the dashboard (see services/message-status/web)`. */
  what: string;
}

/**
 * A controller serving a page built with Vite: `GET /<route>` the index, `GET /<route>/assets/:file`
 * its hashed assets. Pages ask for the API key themselves and send it as a header, so these routes are
 * public; they hold no data.
 */
export function staticPageController(o: StaticPageOptions): Type<unknown> {
  const root = o.distDirs.find((d) => existsSync(join(d, 'index.html')));
  const send = (res: Response, path: string, cache: string): void => {
    if (!root) throw new ProblemException(404, `${o.what} is not built`);
    if (!existsSync(join(root, path))) throw new ProblemException(404, 'no such asset');
    res.setHeader('Cache-Control', cache);
    res.sendFile(path, { root, dotfiles: 'deny' });
  };

  @ApiExcludeController()
  @Public()
  @Controller(o.route)
  class StaticPageController {
    @Get()
    index(@Res() res: Response): void {
      send(res, 'index.html', 'no-cache');
    }

    @Get('assets/:file')
    asset(@Param('file') file: string, @Res() res: Response): void {
      if (!/^[\w.-]+$/.test(file) || file.startsWith('.')) throw new ProblemException(404, 'no such asset');
      // Vite names assets by content hash: they never change under the same name.
      send(res, `assets/${file}`, 'public, max-age=31536000, immutable');
    }
  }
  return StaticPageController;
}
