import { plainToInstance } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, Min, MinLength, validateSync } from 'class-validator';

/** Settings every service reads; a service's own config class extends it. */
export class BaseServiceConfig {
  /** PostgreSQL URL, e.g. postgres://postgres@127.0.0.1:5432/elo */
  @Matches(/^postgres(ql)?:\/\//, { message: 'DATABASE_URL must be a postgres:// URL' })
  DATABASE_URL!: string;

  /** RabbitMQ URL, e.g. amqp://guest:guest@127.0.0.1:5672 */
  @Matches(/^amqps?:\/\//, { message: 'AMQP_URL must be an amqp:// URL' })
  AMQP_URL!: string;

  /** HTTP port (0 picks a free one, for tests). */
  @IsInt() @Min(0) @Max(65535) PORT!: number;

  /** Bootstrap admin key: creates tenants and their first keys. */
  @IsString() @MinLength(32, { message: 'ELO_ADMIN_KEY must be at least 32 characters' })
  ELO_ADMIN_KEY!: string;

  /** Encryption keys for secrets at rest: `kid:<base64 32 bytes>[,kid2:...]`. */
  @Matches(/^[A-Za-z0-9_-]+:[A-Za-z0-9+/=]{43,44}(,[A-Za-z0-9_-]+:[A-Za-z0-9+/=]{43,44})*$/, {
    message: 'ELO_ENCRYPTION_KEYS must be kid:<base64 of 32 bytes>[,kid:...]',
  })
  ELO_ENCRYPTION_KEYS!: string;

  /** Which of ELO_ENCRYPTION_KEYS encrypts new secrets. */
  @IsString() ELO_ENCRYPTION_ACTIVE_KEY!: string;

  @IsOptional() @IsIn(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']) LOG_LEVEL?: string;

  /** Private addresses (comma-separated CIDRs or hosts) outbound HTTP may reach, e.g. an on-premises PBX. */
  @IsOptional() @IsString() EGRESS_ALLOW_PRIVATE?: string;

  /**
   * Private-network ranges (comma-separated CIDRs) a tenant-given host, e.g. a PBX profile's pbxHost,
   * may open; blank = 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7. Anything else non-public
   * (loopback, link-local, …) only through EGRESS_ALLOW_PRIVATE.
   */
  @IsOptional() @IsString() EGRESS_REQUEST_PRIVATE_RANGES?: string;

  /** Base URL the outside world reaches this service at (webhook URLs, links). */
  @IsOptional() @Matches(/^https?:\/\//, { message: 'PUBLIC_BASE_URL must be an http(s) URL' }) PUBLIC_BASE_URL?: string;

  /** Requests a minute one API key may make on one replica (0 = unlimited). */
  @IsOptional() @IsInt() @Min(0) RATE_LIMIT_PER_KEY_PER_MINUTE: number = 6_000;

  /** Requests a minute one source address may make, keyed or not, e.g. webhooks (10,000/s; 0 = unlimited). */
  @IsOptional() @IsInt() @Min(0) RATE_LIMIT_PER_SOURCE_PER_MINUTE: number = 600_000;

  /** Unacknowledged messages (each one event or a relay's batch) RabbitMQ may push to this replica's consumer (overrides the service's default). */
  @IsOptional() @IsInt() @Min(1) BUS_PREFETCH?: number;

  /** Events handled in one database transaction (overrides the service's default). */
  @IsOptional() @IsInt() @Min(1) BUS_BATCH_SIZE?: number;

  /** Batches handled at once (overrides the service's default). */
  @IsOptional() @IsInt() @Min(1) BUS_CONCURRENCY?: number;

  /** How often rows past their retention are looked for and deleted (ms; an hour; 0 = never). */
  @IsOptional() @IsInt() @Min(0) RETENTION_INTERVAL_MS: number = 3_600_000;

  /** Largest request body accepted, in bytes (3 MB, Meta's maximum webhook size). */
  @IsOptional() @IsInt() @Min(1024) BODY_LIMIT_BYTES: number = 3 * 1024 * 1024;
}

export class ConfigError extends Error {}

/**
 * Reads and validates a config class from the environment. Fails with one message that names every
 * bad or missing key (never their values: some are secrets).
 */
export function loadConfig<T extends object>(cls: new () => T, env: NodeJS.ProcessEnv = process.env): T {
  const config = plainToInstance(cls, { ...env }, { enableImplicitConversion: true, exposeDefaultValues: true });
  const errors = validateSync(config, { whitelist: false, skipMissingProperties: false });
  if (errors.length) {
    const lines = errors.map((e) => `  - ${e.property}: ${Object.values(e.constraints ?? {}).join('; ')}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const active = (config as unknown as BaseServiceConfig).ELO_ENCRYPTION_ACTIVE_KEY;
  const keys = (config as unknown as BaseServiceConfig).ELO_ENCRYPTION_KEYS;
  if (active && keys && !keys.split(',').some((k) => k.split(':')[0] === active)) {
    throw new ConfigError('invalid configuration:\n  - ELO_ENCRYPTION_ACTIVE_KEY: names no key in ELO_ENCRYPTION_KEYS');
  }
  return config;
}
