import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * The latest success of a delivery that had failed attempts before it (a resend, or a retry that worked): a failure of
 * the delivery earlier than it, handled after it (the bus keeps no order between the two), is resolved at once.
 */
@Entity({ name: 'integration_successes' })
export class IntegrationSuccessEntity {
  @PrimaryColumn('uuid', { name: 'delivery_id' }) deliveryId!: string;
  @Column('text', { name: 'tenant_id' }) tenantId!: string;
  @Column('timestamptz', { name: 'succeeded_at' }) succeededAt!: Date;
}
