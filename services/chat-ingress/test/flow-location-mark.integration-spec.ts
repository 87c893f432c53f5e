import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { migratedSchema } from './support/migrated-schema';
import { FlowLocationMark1765300000000 } from '../src/database/migrations/1765300000000-FlowLocationMark';

const S = '"chat_ingress"';

describe('migration FlowLocationMark: conversations already waiting at a viability step', () => {
  const schema = migratedSchema('chat_flow_location_mark');
  let ds: DataSource;
  beforeAll(() => (ds = schema.ds()));

  it('marks the open ones waiting for input at a viability step, and only those', async () => {
    const flowId = randomUUID();
    await ds.query(`INSERT INTO ${S}.flows (id, tenant_id, version, definition) VALUES ($1, 't', 1, $2)`, [
      flowId,
      { start: 'v', steps: { v: { type: 'viability', text: 'Envie sua localização' }, q: { type: 'question', text: 'Seu nome?', attribute: 'name', next: 'v' } } },
    ]);
    const conv = async (status: string, state: object) => {
      const id = randomUUID();
      await ds.query(
        `INSERT INTO ${S}.conversations (id, tenant_id, channel_id, contact_id, status, queue, flow_id, flow_version, flow_state)
         VALUES ($1, 't', $2, $3, $4, 'bot', $5, 1, $6)`,
        [id, randomUUID(), randomUUID(), status, flowId, state],
      );
      return id;
    };
    const waiting = await conv('open', { stepId: 'v', waiting: 'input' });
    const atQuestion = await conv('open', { stepId: 'q', waiting: 'input' });
    const checking = await conv('open', { stepId: 'v', waiting: 'viability', requestId: randomUUID() });
    const closed = await conv('closed', { stepId: 'v', waiting: 'input' });

    const runner = ds.createQueryRunner();
    try {
      await new FlowLocationMark1765300000000().up(runner);
    } finally {
      await runner.release();
    }

    const state = async (id: string) => ((await ds.query(`SELECT flow_state FROM ${S}.conversations WHERE id = $1`, [id])) as Array<{ flow_state: Record<string, unknown> }>)[0]!.flow_state;
    expect(await state(waiting)).toEqual({ stepId: 'v', waiting: 'input', location: true });
    expect(await state(atQuestion)).toEqual({ stepId: 'q', waiting: 'input' });
    expect((await state(checking)).location).toBeUndefined();
    expect(await state(closed)).toEqual({ stepId: 'v', waiting: 'input' });
  });
});
