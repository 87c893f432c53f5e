import { Column, Entity, Generated, PrimaryColumn } from 'typeorm';

/**
 * One raw status in a message's timeline (kept even when the channel cannot show it). The key is the
 * dedupe key: a provider repeating the same status for the same moment is one entry.
 */
@Entity({ name: 'message_events' })
export class MessageEventEntity {
  /** Arrival order, for entries with the same provider timestamp (not indexed). */
  @Column('bigint') @Generated('increment') id!: string;
  @PrimaryColumn('uuid', { name: 'message_id' }) messageId!: string;
  @Column('text', { name: 'tenant_id' }) tenantId!: string;
  @PrimaryColumn('text', { name: 'raw_status' }) rawStatus!: string;
  @Column('text') source!: string;
  @PrimaryColumn('timestamptz', { name: 'provider_timestamp' }) providerTimestamp!: Date;
  @Column('timestamptz', { name: 'received_at' }) receivedAt!: Date;
  @Column('boolean') reportable!: boolean;
  @Column('boolean') applied!: boolean;
  @Column('text', { name: 'error_code', nullable: true }) errorCode!: string | null;
  @Column('text', { name: 'error_title', nullable: true }) errorTitle!: string | null;
  @Column('text', { name: 'error_details', nullable: true }) errorDetails!: string | null;
  @Column('text', { nullable: true }) reason!: string | null;
  @Column('text', { name: 'event_id', nullable: true }) eventId!: string | null;
}
