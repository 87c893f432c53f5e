import { staticPageController } from '@elo/platform';
import { resolve } from 'node:path';
import { Module } from '@nestjs/common';
import { OperatorEventsController } from './operator-events.controller';
import { PopHub } from './pop-hub.service';
import { StreamTokens } from './stream-tokens.service';

@Module({
  controllers: [
    OperatorEventsController,
    // The operator's screen at /operator, built from services/telephony-bridge/web (bundle committed in web/dist).
    staticPageController({
      route: 'operator',
      distDirs: [resolve(__dirname, '../../web/dist'), resolve(process.cwd(), 'services/telephony-bridge/web/dist')],
      what: 'the operator page (see services/telephony-bridge/web)',
    }),
  ],
  providers: [PopHub, StreamTokens],
  exports: [PopHub],
})
export class ScreenPopModule {}
