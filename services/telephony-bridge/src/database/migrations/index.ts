import { retentionIndex } from '@elo/platform';
import { leanerMessagingIndexes, outboxKeepsOnlyPending } from '@elo/messaging';
import { Init1763800000000 } from './1763800000000-Init';
import { Telephony1763900000000 } from './1763900000000-Telephony';
import { CallsByExtension1765300000000 } from './1765300000000-CallsByExtension';
import { AnsweredPerExtension1767000000000 } from './1767000000000-AnsweredPerExtension';

/** Every migration of the `telephony` schema, in order. */
export const migrations = [Init1763800000000, Telephony1763900000000, leanerMessagingIndexes('telephony'), CallsByExtension1765300000000, outboxKeepsOnlyPending('telephony'),
  retentionIndex('"telephony".callbacks', 'received_at', 'callbacks_received_brin'), AnsweredPerExtension1767000000000];
