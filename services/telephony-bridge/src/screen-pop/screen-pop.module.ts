import { Module } from '@nestjs/common';
import { OperatorEventsController } from './operator-events.controller';
import { OperatorPageController } from './operator-page.controller';
import { PopHub } from './pop-hub.service';
import { StreamTokens } from './stream-tokens.service';

@Module({
  controllers: [OperatorEventsController, OperatorPageController],
  providers: [PopHub, StreamTokens],
  exports: [PopHub],
})
export class ScreenPopModule {}
