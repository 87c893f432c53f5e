import { DynamicModule, Module } from '@nestjs/common';
import { PENDING_EXPIRY, PendingSweeper, type PendingExpiry } from './pending-sweeper.service';
import { StatusConsumer } from './status.consumer';
import { TrackingService } from './tracking.service';

@Module({})
export class TrackingModule {
  /** `expiry`: how long a status may wait for its message, and how often the expired ones are deleted. */
  static register(expiry: PendingExpiry): DynamicModule {
    return {
      module: TrackingModule,
      providers: [{ provide: PENDING_EXPIRY, useValue: expiry }, TrackingService, StatusConsumer, PendingSweeper],
      exports: [TrackingService],
    };
  }
}
