import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { IntegrationDeliveryOutcome } from '@elo/contracts';
import { BusProbe } from '@elo/messaging';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { callEnded, closeAll, FakeEndpoint, startApp, tenantApi, type Body, type RunningApp } from './app.fixture';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..', '..');
const CLI = join(__dirname, '..', 'src', 'cli', 'resend.ts');
/**
 * Each CLI run is a node process compiling the CLI's TypeScript as it loads (@swc-node/register): a few seconds
 * on a loaded machine, and a test runs up to four of them besides the deliveries it waits for.
 */
const CLI_TEST_TIMEOUT_MS = 150_000;

describe('webhook-dispatcher bulk resend CLI (real PostgreSQL, RabbitMQ, the CLI as a child process)', () => {
  let infra: TestInfra;
  let svc: RunningApp;
  let probe: BusProbe;
  let erp: FakeEndpoint;
  let healthy = false;

  const resendCli = (args: string[]) =>
    run(process.execPath, ['-r', '@swc-node/register', CLI, ...args], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: infra.databaseUrl, SWC_NODE_PROJECT: join(ROOT, 'tsconfig.json'), LOG_LEVEL: 'warn' },
      timeout: 45_000,
    });

  const failedOf = (ids: Set<string>) => probe.ofType<IntegrationDeliveryOutcome>('integration.delivery.failed').filter((e) => ids.has(e.data.integrationId));
  const succeededOf = (ids: Set<string>) => probe.ofType<IntegrationDeliveryOutcome>('integration.delivery.succeeded').filter((e) => ids.has(e.data.integrationId));

  beforeAll(async () => {
    infra = await createTestInfra('dispatcher_bulk_resend');
    erp = await new FakeEndpoint().start();
    erp.handler = () => (healthy ? { status: 200, body: { ok: true } } : { status: 503, body: { error: 'maintenance' } });
    svc = await startApp(infra);
    probe = await BusProbe.connect(infra.amqpUrl, ['integration.#']);
  });

  afterAll(() => closeAll(probe, svc, erp, infra));

  it('resends the filtered failed set of one tenant with a progress bar; same webhook-ids; disabled integrations and other tenants untouched', async () => {
    const { tenant: a, call: callA } = await tenantApi(svc.url);
    const { tenant: b, call: callB } = await tenantApi(svc.url);
    const integration = (name: string) => ({
      name,
      kind: 'http',
      request: { method: 'POST', url: `${erp.url}/calls/{ramal}`, body: { kind: 'keyvalue', pairs: [{ key: 'call[id]', value: '{callId}' }, { key: 'call[status]', value: '{disposition}' }] } },
      trigger: { eventTypes: ['telephony.call.ended'] },
      delivery: { retryScheduleSeconds: [] },
    });
    const main = await callA('POST', '/integrations', integration('ERP calls'));
    const paused = await callA('POST', '/integrations', integration('Paused ERP'));
    const other = await callB('POST', '/integrations', integration('Tenant B ERP'));
    expect([main.status, paused.status, other.status]).toEqual([201, 201, 201]);
    const ours = new Set<string>([main.body.id, paused.body.id, other.body.id]);

    const eventsA = Array.from({ length: 7 }, (_, i) => callEnded(a.tenantId, { ramal: `20${i}` }));
    await probe.publish(...eventsA, callEnded(b.tenantId, { ramal: '999' }));
    // 7 events × 2 integrations of tenant A, 1 of tenant B; no retries on an empty schedule.
    await expectEventually(() => expect(failedOf(ours)).toHaveLength(15), { timeoutMs: 20_000 });
    expect((await callA('POST', `/integrations/${paused.body.id}/disable`)).status).toBe(200);
    const failedMain = failedOf(new Set([main.body.id])).map((e) => e.data.deliveryId);
    expect(failedMain).toHaveLength(7);

    const dry = await resendCli(['--tenant', a.tenantId, '--dry-run']);
    expect(dry.stdout).toContain('7 deliveries to resend; 7 skipped (integration disabled: enable it first)');
    // --limit counts what will be resent: the disabled integration's deliveries (as old as these) take none of it.
    const dryLimited = await resendCli(['--tenant', a.tenantId, '--dry-run', '--limit', '3']);
    expect(dryLimited.stdout).toContain('3 deliveries to resend; 7 skipped (integration disabled: enable it first)');
    const stillFailed = await callA('GET', `/integrations/${main.body.id}/deliveries?outcome=failed`);
    expect(stillFailed.body).toHaveLength(7);

    healthy = true;
    const before = erp.received.length;
    const limited = await resendCli(['--tenant', a.tenantId, `--integration=${main.body.id}`, '--http-status', '503', '--limit', '2']);
    expect(limited.stdout).toContain('2 deliveries to resend');
    expect(limited.stdout).toContain('2 queued for sending');
    await expectEventually(() => expect(succeededOf(ours)).toHaveLength(2), { timeoutMs: 15_000 });

    const all = await resendCli(['--tenant', a.tenantId, '--integration', main.body.id, '--event-type', 'telephony.call.ended', '--chunk', '2']);
    expect(all.stdout).toContain('5 deliveries to resend');
    expect(all.stdout).toMatch(/resending \[.*\] 100% \| 5\/5/);
    expect(all.stdout).toContain('5 queued for sending');
    await expectEventually(() => expect(succeededOf(ours)).toHaveLength(7), { timeoutMs: 15_000 });

    // Each failed delivery was sent once more, under its own id (webhook-id is stable across resends).
    const resent = erp.received.slice(before);
    expect(resent).toHaveLength(7);
    expect(new Set(resent.map((r) => r.headers['webhook-id']))).toEqual(new Set(failedMain));
    expect(new Set(succeededOf(ours).map((e) => e.data.deliveryId))).toEqual(new Set(failedMain));
    // Attempt numbers go on: each was sent once before (attempt 1), and once by the resend (attempt 2).
    expect(succeededOf(ours).map((e) => e.data.attempts)).toEqual(Array(7).fill(2));
    expect(JSON.parse(resent[0].body)).toMatchObject({ call: { status: 'ANSWERED' } });

    // Nothing left to resend for A's enabled integration; the disabled one and tenant B keep their failures.
    expect((await callA('GET', `/integrations/${main.body.id}/deliveries?outcome=failed`)).body).toHaveLength(0);
    expect((await callA('GET', `/integrations/${paused.body.id}/deliveries?outcome=failed`)).body).toHaveLength(7);
    expect((await callB('GET', `/integrations/${other.body.id}/deliveries?outcome=failed`)).body as Body[]).toHaveLength(1);
  }, CLI_TEST_TIMEOUT_MS);

  it('says what is wrong on bad arguments (exit code 2) and prints usage', async () => {
    await expect(resendCli(['--integration', 'x'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('uuid') });
    await expect(resendCli(['--dry-run'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--all-tenants') });
    const help = await resendCli(['--help']);
    expect(help.stdout).toContain('Usage: resend');
  }, CLI_TEST_TIMEOUT_MS);
});
