import { Module } from '@nestjs/common';
import { LiveModule } from '../live/live.module';
import { MessageQueryService } from './message-query.service';
import { MessagesController } from './messages.controller';
import { StreamController } from './stream.controller';

@Module({
  imports: [LiveModule],
  controllers: [MessagesController, StreamController],
  providers: [MessageQueryService],
})
export class ApiModule {}
