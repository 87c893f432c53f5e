import { expectEventually } from './expect-eventually';

/** What the rotation scenario needs of a running service (a Nest app, structurally). */
export interface RotatingApp {
  close(): Promise<void>;
}

/** The service's ReencryptionService (from @elo/auth), as the scenario drives it. */
export interface ReencryptionJob {
  idle(): Promise<void>;
  run(): Promise<{ columns: Array<{ table: string; column: string; rewritten: number; changedConcurrently: number; failed: number; remaining: number }> }>;
}

export interface KeyRotationScenario<A extends RotatingApp> {
  /** Boots the service with ELO_ENCRYPTION_KEYS = `keys` and ELO_ENCRYPTION_ACTIVE_KEY = `active`. */
  boot(keys: string, active: string): Promise<A>;
  /** Writes secrets through the service (its API or its own services), under whatever key is active. */
  seed(app: A): Promise<void>;
  /** Every sealed value the service stores (the columns it registered), straight from the database. */
  sealed(app: A): Promise<string[]>;
  /** `app.get(ReencryptionService)`. */
  job(app: A): ReencryptionJob;
  /** Reads the secrets back through the service and checks they are the ones seeded. */
  verify(app: A): Promise<void>;
}

const KEY_A = `ka:${Buffer.alloc(32, 0xa1).toString('base64')}`;
const KEY_B = `kb:${Buffer.alloc(32, 0xb2).toString('base64')}`;

/**
 * Key rotation without downtime, end to end for one service: secrets written under key A; restart
 * with B active and A still listed, and the background job re-seals every value under B by itself;
 * a second run rewrites nothing; restart with B alone, and the service still reads every secret.
 */
export async function expectKeyRotation<A extends RotatingApp>(s: KeyRotationScenario<A>): Promise<void> {
  let open: A | undefined;
  const restart = async (keys: string, active: string): Promise<A> => {
    await open?.close();
    open = undefined;
    open = await s.boot(keys, active);
    return open;
  };
  try {
    let app = await restart(KEY_A, 'ka');
    await s.seed(app);
    const underA = await s.sealed(app);
    if (underA.length === 0) throw new Error('the scenario seeded no sealed value');
    expectEvery(underA, 'ka');

    app = await restart(`${KEY_A},${KEY_B}`, 'kb');
    await expectEventually(async () => {
      const now = await s.sealed(app);
      if (now.length !== underA.length) throw new Error(`${now.length} sealed values, expected ${underA.length}`);
      expectEvery(now, 'kb');
    });
    const job = s.job(app);
    await job.idle();
    const again = await job.run();
    const redone = again.columns.filter((c) => c.rewritten + c.changedConcurrently + c.failed + c.remaining > 0);
    if (redone.length) throw new Error(`a second run found work: ${JSON.stringify(redone)}`);

    app = await restart(KEY_B, 'kb');
    await s.verify(app);
  } finally {
    await open?.close();
  }
}

function expectEvery(values: string[], kid: string): void {
  const other = values.filter((v) => !v.startsWith(`v1.${kid}.`));
  if (other.length) throw new Error(`${other.length} of ${values.length} values are not sealed under ${kid}`);
}
