import { Inject, Injectable, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { DiscoveryService, ModuleRef } from '@nestjs/core';
import { redactString } from './redaction';

/** One dependency /health/ready waits for (PostgreSQL, RabbitMQ, ...). */
export interface ReadinessCheck {
  /** Names the dependency in the 503 answer: `postgres`, `rabbitmq`. */
  name: string;
  /** Resolves when the dependency is usable; throws (or times out) when not. */
  check(): Promise<void>;
}

/**
 * Multi-provider token. Any module may provide it, each its own (`{ provide: READINESS_CHECKS,
 * useExisting: MyCheck }`, or a factory returning a check or an array of checks); ObservabilityModule
 * finds every such provider across the app at bootstrap. Nest has no multi providers, so this is
 * done by discovery rather than by injecting the token.
 */
export const READINESS_CHECKS = Symbol('elo:readiness-checks');

/** Internal: the options' literal checks and provider tokens. */
export const READINESS_OPTIONS = Symbol('elo:readiness-options');

export type ReadinessToken = string | symbol | (abstract new (...args: never[]) => unknown);

export interface ReadinessOptions {
  readiness?: ReadinessCheck[];
  readinessTokens?: ReadinessToken[];
}

export interface ReadinessResult {
  name: string;
  ok: boolean;
  error?: string;
}

function isCheck(x: unknown): x is ReadinessCheck {
  return typeof x === 'object' && x !== null && typeof (x as ReadinessCheck).check === 'function';
}

/** Every readiness check of the app, collected once at bootstrap; `register()` adds one later. */
@Injectable()
export class ReadinessChecks implements OnApplicationBootstrap {
  private readonly checks: ReadinessCheck[] = [];
  timeoutMs = 2_000;

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly moduleRef: ModuleRef,
    @Optional() @Inject(READINESS_OPTIONS) private readonly options: ReadinessOptions = {},
  ) {}

  onApplicationBootstrap(): void {
    for (const c of this.options.readiness ?? []) this.register(c);
    for (const token of this.options.readinessTokens ?? []) {
      this.registerAll(this.moduleRef.get(token as never, { strict: false }));
    }
    for (const w of this.discovery.getProviders()) {
      if (w.token === READINESS_CHECKS) this.registerAll(w.instance);
    }
  }

  register(check: ReadinessCheck): void {
    if (!this.checks.includes(check)) this.checks.push(check);
  }

  all(): readonly ReadinessCheck[] {
    return this.checks;
  }

  /** Runs every check in parallel, each bounded by `timeoutMs`. Error texts are redacted. */
  async run(): Promise<ReadinessResult[]> {
    return Promise.all(
      this.checks.map(async (c): Promise<ReadinessResult> => {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            c.check(),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error(`timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
            }),
          ]);
          return { name: c.name, ok: true };
        } catch (err) {
          return { name: c.name, ok: false, error: redactString((err as Error)?.message ?? String(err)) };
        } finally {
          clearTimeout(timer);
        }
      }),
    );
  }

  private registerAll(x: unknown): void {
    for (const c of Array.isArray(x) ? x : [x]) {
      if (isCheck(c)) this.register(c);
    }
  }
}
