import { Injectable } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { NextFunction, Request, Response } from 'express';

/** Header the import's real media type travels in while the shared body parsers are bypassed. */
export const IMPORT_TYPE_HEADER = 'x-elo-import-content-type';

/**
 * Inventory imports are streamed, not loaded whole: the platform's body parsers (mounted for every
 * route, with a size limit) must leave `POST /inventory/import` alone. Registered on the Express app
 * while the module is built, i.e. before those parsers, it moves the media type aside so they skip
 * the request; the controller reads the original type from {@link IMPORT_TYPE_HEADER}.
 */
@Injectable()
export class StreamImportHook {
  constructor(host: HttpAdapterHost) {
    const express = host.httpAdapter?.getInstance() as { use?: (fn: (req: Request, res: Response, next: NextFunction) => void) => void } | undefined;
    express?.use?.((req, _res, next) => {
      if (req.method === 'POST' && req.path === '/inventory/import' && req.headers['content-type']) {
        req.headers[IMPORT_TYPE_HEADER] = req.headers['content-type'];
        delete req.headers['content-type'];
      }
      next();
    });
  }
}
