import { retentionIndex } from '@elo/platform';
import { leanerMessagingIndexes, outboxKeepsOnlyPending } from '@elo/messaging';
import { Init1763800000000 } from './1763800000000-Init';
import { Inventory1764100000000 } from './1764100000000-Inventory';
import { GeocodeCache1764100100000 } from './1764100100000-GeocodeCache';
import { Findme1764100200000 } from './1764100200000-Findme';
import { UpstreamSync1764100250000 } from './1764100250000-UpstreamSync';
import { ChatChannels1764100300000 } from './1764100300000-ChatChannels';
import { UpstreamPrune1764100350000 } from './1764100350000-UpstreamPrune';
import { RecordCompression1764100400000 } from './1764100400000-RecordCompression';
import { InventoryVersions1765200000000 } from './1765200000000-InventoryVersions';
import { BoxPatches1765400000000 } from './1765400000000-BoxPatches';
import { ImportRuns1765500000000 } from './1765500000000-ImportRuns';
import { FindmeFollowUp1765600000000 } from './1765600000000-FindmeFollowUp';
import { InventoryTruncate1765900000000 } from './1765900000000-InventoryTruncate';
import { GeocoderPace1768200000000 } from './1768200000000-GeocoderPace';

/** Every migration of the `viability` schema, in order. */
export const migrations = [Init1763800000000, Inventory1764100000000, GeocodeCache1764100100000, Findme1764100200000, UpstreamSync1764100250000, ChatChannels1764100300000, UpstreamPrune1764100350000, RecordCompression1764100400000, leanerMessagingIndexes('viability'), InventoryVersions1765200000000, BoxPatches1765400000000, ImportRuns1765500000000, FindmeFollowUp1765600000000, outboxKeepsOnlyPending('viability'),
  retentionIndex('viability.checks', 'checked_at', 'checks_checked_brin'), InventoryTruncate1765900000000, GeocoderPace1768200000000];
