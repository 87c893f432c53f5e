import type { INestApplication } from '@nestjs/common';
import { BusConnection, BusProbe } from '@elo/messaging';
import { createServiceDataSource, runMigrations } from '@elo/persistence';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { createTestInfra, expectEventually, outboxEmpty, type TestInfra } from '@elo/testing';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { DataSource } from 'typeorm';
import { AppModule, SCHEMA, SERVICE } from '../src/app.module';
import { ViabilityConfig } from '../src/config/viability.config';
import { migrations } from '../src/database/migrations';
import { FindmeFollowUp1765600000000 } from '../src/database/migrations/1765600000000-FindmeFollowUp';
import { FindmeService } from '../src/findme/findme.service';

/**
 * Deploying FindmeFollowUp over links written by the release before it: links that expired unused before
 * the deploy were never answered then, and must not be answered now (a stale viability.checked each, and
 * tenants' integrations fired); nor is a callback tried again for a link confirmed before the deploy.
 */
describe('viability: FindME links written before FindmeFollowUp', () => {
  let infra: TestInfra;
  let app: INestApplication | undefined;
  let probe: BusProbe;
  let fake: Server;
  let fakeUrl: string;
  const hits: string[] = [];
  const tenantId = randomUUID();

  beforeAll(async () => {
    infra = await createTestInfra('viability-findme-upgrade');
    fake = createServer((req, res) => {
      hits.push(req.url ?? '');
      res.statusCode = 202;
      res.end('{}');
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    fakeUrl = `http://127.0.0.1:${(fake.address() as { port: number }).port}`;
    probe = await BusProbe.connect(infra.amqpUrl, ['viability.checked']);
  });

  afterAll(async () => {
    await probe?.close();
    await app?.close();
    await new Promise((r) => fake?.close(r));
    await infra?.cleanup();
  });

  /** A link row as the release before FindmeFollowUp wrote it. */
  const oldLink = (ds: DataSource, l: { requestId?: string; conversationId?: string; callback?: boolean; expires: string; used?: string; callbackStatus?: string }) =>
    ds.query(
      `INSERT INTO viability.findme_links (id, tenant_id, token_hash, phone, request_id, conversation_id, callback_url, expires_at, used_at, sms_status, callback_status, created_at)
       VALUES ($1, $2, $3, '+5541988887777', $4, $5, $6, now() + $7::interval, now() + $8::interval, 'sent', $9, now() + $7::interval - interval '30 minutes')
       RETURNING id`,
      [randomUUID(), tenantId, randomUUID(), l.requestId ?? null, l.conversationId ?? null, l.callback ? `${fakeUrl}/bot/callback` : null,
        l.expires, l.used ?? null, l.callbackStatus ?? null],
    ) as Promise<Array<{ id: string }>>;

  it('answers none of the links that expired unused before the deploy, retries no old callback, and still answers a link that expires after it', async () => {
    // The schema as the release before FindmeFollowUp left it, with its links.
    const followUp = migrations.indexOf(FindmeFollowUp1765600000000);
    expect(followUp).toBeGreaterThan(0);
    const before = createServiceDataSource({ url: infra.databaseUrl, schema: SCHEMA, migrations: migrations.slice(0, followUp), poolSize: 2 });
    await before.initialize();
    await runMigrations(before);
    const ancient = randomUUID();
    const recent = randomUUID();
    const stillOpen = randomUUID();
    await oldLink(before, { requestId: ancient, expires: '-3 days' });
    await oldLink(before, { conversationId: recent, expires: '-1 minute' });
    await oldLink(before, { requestId: randomUUID(), callback: true, expires: '-2 days', used: '-3 days', callbackStatus: 'failed: network: connection refused' });
    await oldLink(before, { requestId: randomUUID(), callback: true, expires: '+20 minutes', used: '-5 minutes', callbackStatus: 'answered 503' });
    const [open] = await oldLink(before, { requestId: stillOpen, expires: '+20 minutes' });
    await before.destroy();

    // The deploy: the service boots and applies FindmeFollowUp (and the migrations after it).
    const config = loadConfig(ViabilityConfig, {
      DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: '0', ELO_ADMIN_KEY: 'f'.repeat(40),
      ELO_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 6).toString('base64')}`, ELO_ENCRYPTION_ACTIVE_KEY: 'k1', LOG_LEVEL: 'warn',
      EGRESS_ALLOW_PRIVATE: '127.0.0.1/32', FINDME_PUBLIC_URL: 'https://elo.example.net', FINDME_SWEEP_MS: '0',
    });
    app = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'viability', config });
    await app.listen(0, '127.0.0.1');
    await app.get(BusConnection).waitReady(15_000);
    const ds = app.get(DataSource);
    const applied: Array<{ name: string }> = await ds.query('SELECT name FROM viability.migrations ORDER BY id');
    expect(applied.slice(followUp).map((m) => m.name)).toEqual(migrations.slice(followUp).map((M) => new M().name));
    expect(await ds.query(
      `SELECT count(*)::int AS n FROM viability.findme_links WHERE answered_at IS NULL AND expires_at <= now()`,
    )).toEqual([{ n: 0 }]);

    const findme = app.get(FindmeService);
    expect(await findme.sweep()).toEqual({ answered: 0, callbacks: 0 });
    // Anything the boot or the sweep published has reached the probe now: no viability.checked at all.
    await probe.settled(outboxEmpty(ds, 'viability'));
    expect(probe.ofType('viability.checked')).toEqual([]);

    // The link still open at the deploy expires after it: that one is answered, and it is the only one.
    await ds.query(`UPDATE viability.findme_links SET expires_at = now() - interval '1 second' WHERE id = $1`, [open!.id]);
    expect(await findme.sweep()).toEqual({ answered: 1, callbacks: 0 });
    await expectEventually(() =>
      expect(probe.ofType<{ requestId?: string; reason?: string }>('viability.checked').map((e) => e.data)).toEqual([
        expect.objectContaining({ requestId: stillOpen, status: 'not_found', reason: 'expired' }),
      ]),
    );
    expect(probe.events.some((e) => JSON.stringify(e).includes(ancient) || JSON.stringify(e).includes(recent))).toBe(false);
    expect(hits).toEqual([]);
  });
});
