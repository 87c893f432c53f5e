import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { migratedSchema } from './support/migrated-schema';
import { FlowDueAt1766300000000 } from '../src/database/migrations/1766300000000-FlowDueAt';
import { keepFlowDue } from '../src/flow/flow-due';

const S = '"chat_ingress"';

describe('migration FlowDueAt: conversations open at the time get their flow timers\' due time', () => {
  const schema = migratedSchema('chat_flow_due_at');
  let ds: DataSource;
  beforeAll(() => (ds = schema.ds()));

  it('gives each open bot conversation the time the service would and none to others (run after reverting to the release before it)', async () => {
    const runner = ds.createQueryRunner();
    const migration = new FlowDueAt1766300000000();
    // The schema as the release before it left it, with conversations of that release.
    await migration.down(runner);
    const channelId = randomUUID();
    await ds.query(`INSERT INTO ${S}.channels (id, tenant_id, provider, name, verify_token, settings) VALUES ($1, 't', 'whatsapp', 'c', 'v', '{"closeAfterMinutes": 5}')`, [channelId]);
    const flowId = randomUUID();
    const conv = async (fields: { status?: string; queue?: string; state: object; reminderAgo?: number; lastInAgo?: number }) => {
      const id = randomUUID();
      await ds.query(
        `INSERT INTO ${S}.conversations (id, tenant_id, channel_id, contact_id, status, queue, flow_id, flow_version, flow_state, reminder_sent_at)
         VALUES ($1, 't', $2, $3, $4, $5, $6, 1, $7, now() - make_interval(mins => $8))`,
        [id, channelId, randomUUID(), fields.status ?? 'open', fields.queue ?? 'bot', flowId, fields.state, fields.reminderAgo ?? null],
      );
      if (fields.lastInAgo !== undefined) {
        await ds.query(
          `INSERT INTO ${S}.messages (id, tenant_id, channel_id, conversation_id, direction, kind, status, body, created_at)
           VALUES ($1, 't', $2, $3, 'in', 'text', 'received', '{}', now() - make_interval(mins => $4))`,
          [randomUUID(), channelId, id, fields.lastInAgo],
        );
      }
      return id;
    };
    const silent = await conv({ state: { stepId: 'menu', waiting: 'input' }, lastInAgo: 3 });
    const reminded = await conv({ state: { stepId: 'menu', waiting: 'input' }, lastInAgo: 20, reminderAgo: 8 });
    const waitUntil = new Date(Date.now() + 60_000).toISOString();
    const waiting = await conv({ state: { stepId: 'billing', waiting: 'integration', requestId: randomUUID(), waitUntil }, lastInAgo: 1 });
    const unlimited = await conv({ state: { stepId: 'billing', waiting: 'integration', requestId: randomUUID() }, lastInAgo: 1 });
    const withPeople = await conv({ queue: 'human', state: { stepId: 'menu', done: true }, lastInAgo: 30 });
    const closed = await conv({ status: 'closed', state: { stepId: 'menu', waiting: 'input' }, lastInAgo: 30 });

    try {
      await migration.up(runner);
    } finally {
      await runner.release();
    }

    const due = async (id: string) => ((await ds.query(`SELECT flow_due_at FROM ${S}.conversations WHERE id = $1`, [id])) as Array<{ flow_due_at: Date | null }>)[0]!.flow_due_at;
    const lastIn = async (id: string) => ((await ds.query(`SELECT max(created_at) AS at FROM ${S}.messages WHERE conversation_id = $1`, [id])) as Array<{ at: Date }>)[0]!.at;
    const remindedAt = ((await ds.query(`SELECT reminder_sent_at FROM ${S}.conversations WHERE id = $1`, [reminded])) as Array<{ reminder_sent_at: Date }>)[0]!.reminder_sent_at;
    expect((await due(silent))?.getTime()).toBe((await lastIn(silent)).getTime() + 10 * 60_000);
    expect((await due(reminded))?.getTime()).toBe(remindedAt.getTime() + 5 * 60_000);
    expect((await due(waiting))?.toISOString()).toBe(waitUntil);
    expect((await due(unlimited))!.getTime()).toBeLessThanOrEqual(Date.now());
    expect(await due(withPeople)).toBeNull();
    expect(await due(closed)).toBeNull();
    const [index] = await ds.query(`SELECT indexdef FROM pg_indexes WHERE schemaname = 'chat_ingress' AND indexname = 'conversations_flow_due_idx'`);
    expect(index.indexdef).toContain('WHERE ((status = \'open\'::text) AND (flow_due_at IS NOT NULL))');

    // The same times as the service's own rule gives them (the migration holds a copy of it).
    const byMigration = await Promise.all([silent, reminded, waiting, withPeople].map(due));
    await keepFlowDue(ds.manager, [silent, reminded, waiting, withPeople]);
    expect(await Promise.all([silent, reminded, waiting, withPeople].map(due))).toEqual(byMigration);
  });
});
