import { Module } from '@nestjs/common';
import { PendingSweeper } from './pending-sweeper.service';
import { StatusConsumer } from './status.consumer';
import { TrackingService } from './tracking.service';

@Module({
  providers: [TrackingService, StatusConsumer, PendingSweeper],
  exports: [TrackingService],
})
export class TrackingModule {}
