import { retentionIndex } from '@elo/platform';
import { leanerMessagingIndexes, outboxKeepsOnlyPending } from '@elo/messaging';
import { Init1763800000000 } from './1763800000000-Init';
import { Dispatcher1764000000000 } from './1764000000000-Dispatcher';
import { RotationAndHealth1764000100000 } from './1764000100000-RotationAndHealth';
import { PendingByIntegration1764000200000 } from './1764000200000-PendingByIntegration';
import { DeliveriesPageOrder1764000300000 } from './1764000300000-DeliveriesPageOrder';
import { ScheduleStep1765200000000 } from './1765200000000-ScheduleStep';
import { AuthSealed1765200100000 } from './1765200100000-AuthSealed';
import { Replicas1765300000000 } from './1765300000000-Replicas';
import { RequestedPending1766200000000 } from './1766200000000-RequestedPending';
import { DeliveryCorrelation1768000000000 } from './1768000000000-DeliveryCorrelation';

/** Every migration of the `dispatcher` schema, in order. */
export const migrations = [
  Init1763800000000, Dispatcher1764000000000, RotationAndHealth1764000100000, PendingByIntegration1764000200000,
  DeliveriesPageOrder1764000300000,
  leanerMessagingIndexes('dispatcher'), ScheduleStep1765200000000, AuthSealed1765200100000,
  Replicas1765300000000, outboxKeepsOnlyPending('dispatcher'),
  retentionIndex('"dispatcher".attempts', 'created_at', 'attempts_created_brin'), RequestedPending1766200000000,
  DeliveryCorrelation1768000000000];
