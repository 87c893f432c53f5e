import { Module } from '@nestjs/common';
import { SealedColumns } from '@elo/auth';
import { ViabilityModule } from '../viability.module';
import { UpstreamController } from './upstream.controller';
import { UpstreamSyncService } from './upstream-sync.service';

/** Inventory kept in step with the tenant's network-documentation system. */
@Module({
  imports: [ViabilityModule, SealedColumns.forFeature({ table: 'viability.upstreams', key: 'tenant_id', columns: { token_sealed: (r) => `${r.tenant_id}:upstream` } })],
  controllers: [UpstreamController],
  providers: [UpstreamSyncService],
})
export class SyncModule {}
