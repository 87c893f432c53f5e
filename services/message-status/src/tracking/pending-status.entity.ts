import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** A provider status that arrived before its message was known; applied once `chat.message.sent` links it. */
@Entity({ name: 'pending_statuses' })
export class PendingStatusEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id!: string;
  @Column('text', { name: 'tenant_id' }) tenantId!: string;
  @Column('uuid', { name: 'channel_id' }) channelId!: string;
  @Column('text') provider!: string;
  @Column('text', { name: 'provider_message_id' }) providerMessageId!: string;
  @Column('text', { name: 'raw_status' }) rawStatus!: string;
  @Column('timestamptz', { name: 'provider_timestamp' }) providerTimestamp!: Date;
  @Column('text', { name: 'error_code', nullable: true }) errorCode!: string | null;
  @Column('text', { name: 'error_title', nullable: true }) errorTitle!: string | null;
  @Column('text', { name: 'error_details', nullable: true }) errorDetails!: string | null;
  @Column('text', { nullable: true }) reason!: string | null;
  @Column('text', { name: 'event_id', nullable: true }) eventId!: string | null;
  @Column('timestamptz', { name: 'received_at' }) receivedAt!: Date;
}
