import { Module } from '@nestjs/common';
import { staticPageController } from '@elo/platform';
import { resolve } from 'node:path';

/**
 * The operators' dashboard at /dashboard: the page built from services/message-status/web (its
 * bundle is committed in web/dist). It asks for the API key itself and keeps it in sessionStorage.
 */
@Module({
  controllers: [
    staticPageController({
      route: 'dashboard',
      distDirs: [resolve(__dirname, '../../web/dist'), resolve(process.cwd(), 'services/message-status/web/dist')],
      what: 'the dashboard (see services/message-status/web)',
    }),
  ],
})
export class DashboardModule {}
