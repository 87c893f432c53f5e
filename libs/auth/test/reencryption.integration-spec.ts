import { randomBytes, randomUUID } from 'node:crypto';
import { createTestInfra, type TestInfra } from '@elo/testing';
import { DataSource } from 'typeorm';
import { ReencryptionService, SealedColumnRegistry, SecretBox } from '../src';

/*
 * The re-encryption job against a real PostgreSQL table: batches, idempotence, the compare-and-set
 * that lets a concurrent write win, values it cannot open, and the one-replica lock. The services'
 * own registrations are proven by their reencryption.integration-spec.ts.
 */

const KEY_A = randomBytes(32);
const KEY_B = randomBytes(32);
const KEY_C = randomBytes(32);
const boxA = new SecretBox({ ka: KEY_A }, 'ka');
const boxAB = new SecretBox({ ka: KEY_A, kb: KEY_B }, 'kb');
const boxB = new SecretBox({ kb: KEY_B }, 'kb');
const boxC = new SecretBox({ kc: KEY_C }, 'kc');
const aadOf = (r: Record<string, unknown>) => `${String(r.tenant_id)}:thing:${String(r.id)}`;

let infra: TestInfra;
let ds: DataSource;

const job = (box: SecretBox, batchSize = 7): ReencryptionService => {
  const registry = new SealedColumnRegistry();
  registry.add([{ table: 'things_it.things', columns: { secret: aadOf, other_secret: (r) => `${String(r.id)}:other` } }]);
  return new ReencryptionService(ds, box, registry, { batchSize });
};

async function seed(n: number): Promise<Map<string, { secret: string; other: string | null }>> {
  const plain = new Map<string, { secret: string; other: string | null }>();
  for (let i = 0; i < n; i++) {
    const id = randomUUID();
    const tenant = randomUUID();
    const p = { secret: `token-${i}-"quoted"-é-${randomBytes(6).toString('hex')}`, other: i % 3 === 0 ? null : `other-${i}` };
    plain.set(id, p);
    await ds.query('INSERT INTO things_it.things (id, tenant_id, secret, other_secret) VALUES ($1, $2, $3, $4)', [
      id, tenant, boxA.encrypt(p.secret, `${tenant}:thing:${id}`), p.other === null ? null : boxA.encrypt(p.other, `${id}:other`),
    ]);
  }
  return plain;
}

const rows = (): Promise<Array<{ id: string; tenant_id: string; secret: string; other_secret: string | null; plain: string | null }>> =>
  ds.query('SELECT * FROM things_it.things ORDER BY id');
const kid = (sealed: string): string => sealed.split('.')[1]!;

beforeAll(async () => {
  infra = await createTestInfra('reencryption');
  ds = new DataSource({ type: 'postgres', url: infra.databaseUrl });
  await ds.initialize();
  await ds.query('CREATE SCHEMA things_it');
  await ds.query(`CREATE TABLE things_it.things (
    id uuid PRIMARY KEY, tenant_id uuid NOT NULL, secret text NOT NULL, other_secret text, plain text)`);
});

afterAll(async () => {
  await ds?.destroy();
  await infra?.cleanup();
});

beforeEach(() => ds.query('TRUNCATE things_it.things'));

describe('ReencryptionService', () => {
  it('re-seals every value of every registered column under the active key, in batches, same plaintext, and a second run rewrites nothing', async () => {
    const plain = await seed(40);
    await ds.query("UPDATE things_it.things SET plain = 'not sealed, left alone'");
    const service = job(boxAB, 7);

    expect(await service.pending()).toEqual([
      { table: 'things_it.things', column: 'secret', count: 40 },
      { table: 'things_it.things', column: 'other_secret', count: 26 },
    ]);
    const report = await service.run();
    expect(report).toEqual({
      activeKeyId: 'kb', interrupted: false,
      columns: [
        { table: 'things_it.things', column: 'secret', rewritten: 40, changedConcurrently: 0, failed: 0, remaining: 0 },
        { table: 'things_it.things', column: 'other_secret', rewritten: 26, changedConcurrently: 0, failed: 0, remaining: 0 },
      ],
    });
    for (const r of await rows()) {
      // Readable with key B alone: key A can leave the configuration.
      expect(kid(r.secret)).toBe('kb');
      expect(boxB.decrypt(r.secret, `${r.tenant_id}:thing:${r.id}`)).toBe(plain.get(r.id)!.secret);
      if (r.other_secret === null) expect(plain.get(r.id)!.other).toBeNull();
      else expect(boxB.decrypt(r.other_secret, `${r.id}:other`)).toBe(plain.get(r.id)!.other);
      expect(r.plain).toBe('not sealed, left alone');
    }

    const before = await rows();
    const again = await service.run();
    expect(again.columns.map((c) => c.rewritten + c.changedConcurrently + c.failed)).toEqual([0, 0]);
    expect(await rows()).toEqual(before);
  });

  it('lets a write that lands between its read and its write win (compare-and-set), and counts it', async () => {
    await seed(10);
    const victim = (await rows())[4]!;
    const newer = boxAB.encrypt('written by the service meanwhile', `${victim.tenant_id}:thing:${victim.id}`);
    const service = job(boxAB, 3);
    const query = ds.query.bind(ds);
    const spy = jest.spyOn(ds, 'query').mockImplementation(async (sql: string, params?: unknown) => {
      if (sql.includes('UPDATE') && Array.isArray(params) && params[1] === victim.id && params[2] === victim.secret) {
        await query('UPDATE things_it.things SET secret = $2 WHERE id = $1', [victim.id, newer]);
      }
      return query(sql, params as unknown[]);
    });
    try {
      const report = await service.run();
      expect(report.columns[0]).toMatchObject({ column: 'secret', rewritten: 9, changedConcurrently: 1, failed: 0, remaining: 0 });
    } finally {
      spy.mockRestore();
    }
    const after = (await rows()).find((r) => r.id === victim.id)!;
    expect(after.secret).toBe(newer);
    expect(boxB.decrypt(after.secret, `${victim.tenant_id}:thing:${victim.id}`)).toBe('written by the service meanwhile');
  });

  it('passes over values it cannot open (key no longer configured, wrong AAD), reports them and finishes the rest', async () => {
    await seed(12);
    const [unknownKey, wrongAad] = await rows();
    await ds.query('UPDATE things_it.things SET secret = $2 WHERE id = $1', [unknownKey!.id, boxC.encrypt('sealed with C', 'x')]);
    await ds.query('UPDATE things_it.things SET secret = $2 WHERE id = $1', [wrongAad!.id, boxA.encrypt('elsewhere', 'another row')]);

    const report = await job(boxAB, 5).run();
    expect(report.columns[0]).toMatchObject({ column: 'secret', rewritten: 10, failed: 2, remaining: 2 });
    const after = new Map((await rows()).map((r) => [r.id, r]));
    expect(kid(after.get(unknownKey!.id)!.secret)).toBe('kc');
    expect(kid(after.get(wrongAad!.id)!.secret)).toBe('ka');
    expect([...after.values()].filter((r) => kid(r.secret) === 'kb')).toHaveLength(10);
  });

  it('runs after boot only when some value carries another key id, and on one replica at a time', async () => {
    await seed(5);
    expect(await job(boxA).runIfNeeded()).toBeUndefined(); // everything already under the active key

    const holder = ds.createQueryRunner();
    await holder.query('SELECT pg_advisory_lock($1)', [0x454c4f52]);
    try {
      expect(await job(boxAB).runIfNeeded()).toBeUndefined(); // another replica holds the lock
      expect((await rows()).every((r) => kid(r.secret) === 'ka')).toBe(true);
    } finally {
      await holder.query('SELECT pg_advisory_unlock($1)', [0x454c4f52]);
      await holder.release();
    }
    const report = await job(boxAB).runIfNeeded();
    expect(report?.columns[0]).toMatchObject({ rewritten: 5, remaining: 0 });
  });

  it('refuses registrations whose names are not plain identifiers (they are spliced into SQL)', () => {
    const registry = new SealedColumnRegistry();
    expect(() => registry.add([{ table: 'things', columns: { secret: aadOf } }])).toThrow(/schema\.table/);
    expect(() => registry.add([{ table: 'x.things; DROP TABLE y', columns: { secret: aadOf } }])).toThrow(/identifier/);
    expect(() => registry.add([{ table: 'x.things', columns: { 'secret"': aadOf } }])).toThrow(/identifier/);
  });
});
