import { retentionIndex } from '@elo/platform';
import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"message_status"';

/** The timestamps the retention sweeper deletes by (MESSAGE_RETENTION_DAYS), each with its BRIN index. */
const indexes = [
  retentionIndex(`${S}.messages`, 'created_at', 'messages_created_brin'),
  retentionIndex(`${S}.message_events`, 'received_at', 'message_events_received_brin'),
  retentionIndex(`${S}.integration_failures`, 'failed_at', 'integration_failures_failed_brin'),
].map((Index) => new Index());

/**
 * Retention of the tracked messages, their timelines and the integration failures. Three tables in one
 * migration: each `retentionIndex` migration carries the same name, and TypeORM refuses two of a name.
 */
export class RetentionIndexes1766500000000 implements MigrationInterface {
  name = 'RetentionIndexes1766500000000';

  async up(q: QueryRunner): Promise<void> {
    for (const index of indexes) await index.up(q);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const index of [...indexes].reverse()) await index.down(q);
  }
}
