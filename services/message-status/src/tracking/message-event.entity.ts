import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** One raw status in a message's timeline (kept even when the channel cannot show it). */
@Entity({ name: 'message_events' })
export class MessageEventEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id!: string;
  @Column('uuid', { name: 'message_id' }) messageId!: string;
  @Column('text', { name: 'tenant_id' }) tenantId!: string;
  @Column('text', { name: 'raw_status' }) rawStatus!: string;
  @Column('text') source!: string;
  @Column('timestamptz', { name: 'provider_timestamp' }) providerTimestamp!: Date;
  @Column('timestamptz', { name: 'received_at' }) receivedAt!: Date;
  @Column('boolean') reportable!: boolean;
  @Column('boolean') applied!: boolean;
  @Column('text', { name: 'error_code', nullable: true }) errorCode!: string | null;
  @Column('text', { name: 'error_title', nullable: true }) errorTitle!: string | null;
  @Column('text', { name: 'error_details', nullable: true }) errorDetails!: string | null;
  @Column('text', { nullable: true }) reason!: string | null;
  @Column('text', { name: 'event_id', nullable: true }) eventId!: string | null;
}
