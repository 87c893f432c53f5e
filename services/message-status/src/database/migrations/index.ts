import { leanerMessagingIndexes, outboxKeepsOnlyPending } from '@elo/messaging';
import { Init1763800000000 } from './1763800000000-Init';
import { Tracking1763900000000 } from './1763900000000-Tracking';
import { StatusMoveRoom1763900100000 } from './1763900100000-StatusMoveRoom';
import { RetentionIndexes1766500000000 } from './1766500000000-RetentionIndexes';
import { IntegrationFailureResolved1766500100000 } from './1766500100000-IntegrationFailureResolved';
import { IntegrationSuccesses1767100000000 } from './1767100000000-IntegrationSuccesses';

/** Every migration of the `message_status` schema, in order. */
export const migrations = [Init1763800000000, Tracking1763900000000, StatusMoveRoom1763900100000, leanerMessagingIndexes('message_status'), outboxKeepsOnlyPending('message_status'),
  RetentionIndexes1766500000000, IntegrationFailureResolved1766500100000, IntegrationSuccesses1767100000000];
