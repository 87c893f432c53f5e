import { Column, Entity, PrimaryColumn } from 'typeorm';

/** An integration delivery the dispatcher gave up on, shown on the same failures board until a resend succeeds. */
@Entity({ name: 'integration_failures' })
export class IntegrationFailureEntity {
  @PrimaryColumn('uuid', { name: 'delivery_id' }) deliveryId!: string;
  @Column('text', { name: 'tenant_id' }) tenantId!: string;
  @Column('uuid', { name: 'integration_id' }) integrationId!: string;
  @Column('text', { name: 'integration_name' }) integrationName!: string;
  @Column('text', { name: 'event_type' }) eventType!: string;
  @Column('uuid', { name: 'conversation_id', nullable: true }) conversationId!: string | null;
  @Column('int', { name: 'http_status', nullable: true }) httpStatus!: number | null;
  @Column('text', { name: 'error_class', nullable: true }) errorClass!: string | null;
  @Column('text', { nullable: true }) error!: string | null;
  @Column('int') attempts!: number;
  @Column('timestamptz', { name: 'failed_at' }) failedAt!: Date;
  /** When a later success of the delivery (a resend) resolved this failure; null while it stands. */
  @Column('timestamptz', { name: 'resolved_at', nullable: true }) resolvedAt!: Date | null;
}
