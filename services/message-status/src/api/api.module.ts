import { Module } from '@nestjs/common';
import { MessageQueryService } from './message-query.service';
import { MessagesController } from './messages.controller';
import { StreamController } from './stream.controller';

@Module({
  controllers: [MessagesController, StreamController],
  providers: [MessageQueryService],
})
export class ApiModule {}
