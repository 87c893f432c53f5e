import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

/** An outbound message and where it stands. Written with set-based SQL (see TrackingService). */
@Entity({ name: 'messages' })
@Index('messages_channel_pmid_uq', ['channelId', 'providerMessageId'], { unique: true, where: 'provider_message_id IS NOT NULL' })
export class MessageEntity {
  /** Elo's message id (given by whoever asked to send it). */
  @PrimaryColumn('uuid') id!: string;
  @Column('text', { name: 'tenant_id' }) tenantId!: string;
  @Column('uuid', { name: 'channel_id', nullable: true }) channelId!: string | null;
  @Column('text', { nullable: true }) provider!: string | null;
  @Column('uuid', { name: 'conversation_id', nullable: true }) conversationId!: string | null;
  @Column('text', { name: 'provider_message_id', nullable: true }) providerMessageId!: string | null;
  @Column('text') status!: string;
  @Column('smallint', { name: 'status_rank' }) statusRank!: number;
  @Column('timestamptz', { name: 'status_at' }) statusAt!: Date;
  @Column('text', { name: 'failure_reason', nullable: true }) failureReason!: string | null;
  @Column('text', { name: 'failure_code', nullable: true }) failureCode!: string | null;
  @Column('text', { name: 'failure_title', nullable: true }) failureTitle!: string | null;
  @Column('text', { name: 'failure_details', nullable: true }) failureDetails!: string | null;
  @Column('boolean', { nullable: true }) retryable!: boolean | null;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt!: Date;
}
