import { Module } from '@nestjs/common';
import { SealedColumns } from '@elo/auth';
import { CheckConsumer } from './check/check.consumer';
import { CheckController } from './check/check.controller';
import { CheckHistoryService } from './check/check-history.service';
import { CheckRecordsService } from './check/check-records.service';
import { ChecksService } from './check/checks.service';
import { InventoryIndexes } from './check/inventory-indexes.service';
import { ViabilityService } from './check/viability.service';
import { FindmeController } from './findme/findme.controller';
import { FindmeService } from './findme/findme.service';
import { SmsPresetsController } from './findme/sms-presets.controller';
import { GeocoderService } from './geocoder/geocoder.service';
import { InventoryController } from './inventory/inventory.controller';
import { InventoryService } from './inventory/inventory.service';
import { SettingsController } from './inventory/settings.controller';
import { StreamImportHook } from './inventory/stream-import.hook';

@Module({
  imports: [SealedColumns.forFeature({ table: 'viability.settings', key: 'tenant_id', columns: { sms_template_sealed: (r) => `${r.tenant_id}:sms` } })],
  controllers: [CheckController, InventoryController, SettingsController, FindmeController, SmsPresetsController],
  providers: [InventoryIndexes, ViabilityService, ChecksService, CheckRecordsService, CheckHistoryService, InventoryService, GeocoderService, FindmeService, CheckConsumer, StreamImportHook],
  // The upstream sync writes the inventory too: through the same InventoryService, whose changes reach this process's indexes.
  exports: [InventoryService, InventoryIndexes],
})
export class ViabilityModule {}
