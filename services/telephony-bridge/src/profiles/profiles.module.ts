import { Module } from '@nestjs/common';
import { SealedColumns } from '@elo/auth';
import { PresetsController, ProfilesController } from './profiles.controller';
import { ProfilesService } from './profiles.service';

@Module({
  imports: [SealedColumns.forFeature({ table: 'telephony.pbx_profiles', columns: { callback_token: (r) => `${r.tenant_id}:pbx-profile:${r.id}:callback_token`, chave: (r) => `${r.tenant_id}:pbx-profile:${r.id}:chave` } })],
  controllers: [ProfilesController, PresetsController],
  providers: [ProfilesService],
  exports: [ProfilesService],
})
export class ProfilesModule {}
