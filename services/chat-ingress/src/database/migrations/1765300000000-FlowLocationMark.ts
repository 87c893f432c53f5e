import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"chat_ingress"';

/**
 * Conversations that were already waiting for the customer's location at a bot flow's viability step
 * when `location: true` came into the flow state (saved on entering such a step) get it now, so a
 * location they share is answered by the flow only (ingest marks it `flowAwaitsLocation`).
 */
export class FlowLocationMark1765300000000 implements MigrationInterface {
  name = 'FlowLocationMark1765300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`UPDATE ${S}.conversations c SET flow_state = c.flow_state || '{"location": true}'::jsonb
      FROM ${S}.flows f
      WHERE c.flow_id = f.id AND c.status = 'open' AND c.flow_state->>'waiting' = 'input'
        AND f.definition->'steps'->(c.flow_state->>'stepId')->>'type' = 'viability'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`UPDATE ${S}.conversations SET flow_state = flow_state - 'location' WHERE flow_state ? 'location'`);
  }
}
