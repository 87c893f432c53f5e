import { Module } from '@nestjs/common';
import { InventoryService } from '../inventory/inventory.service';
import { UpstreamController } from './upstream.controller';
import { UpstreamSyncService } from './upstream-sync.service';

/** Inventory kept in step with the tenant's network-documentation system. */
@Module({
  controllers: [UpstreamController],
  providers: [UpstreamSyncService, InventoryService],
})
export class SyncModule {}
