import { Module } from '@nestjs/common';
import { SealedColumns } from '@elo/auth';
import { IntegrationsController } from './integrations.controller';
import { IntegrationsService } from './integrations.service';

@Module({
  imports: [SealedColumns.forFeature({ table: 'dispatcher.integrations', columns: { secrets_sealed: (r) => `${r.id}:secrets`, signing_secret_sealed: (r) => `${r.id}:signing`, previous_signing_secret_sealed: (r) => `${r.id}:signing`, auth_sealed: (r) => `${r.id}:auth` } })],
  controllers: [IntegrationsController],
  providers: [IntegrationsService],
  exports: [IntegrationsService],
})
export class IntegrationsModule {}
