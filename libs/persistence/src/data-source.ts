import { DataSource, type DataSourceOptions, type EntitySchema, type MixedList } from 'typeorm';

export interface ServiceDataSourceOptions {
  /** PostgreSQL connection URL. */
  url: string;
  /** The one schema this service owns (`chat_ingress`, `viability`, ...). */
  schema: string;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  entities?: MixedList<Function | string | EntitySchema>;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  migrations?: MixedList<Function | string>;
  /** Pool size; default 10. */
  poolSize?: number;
  applicationName?: string;
}

/**
 * A DataSource bound to one service schema, with its own migrations table inside that schema.
 * Schemas change only through migrations: `synchronize` is always off.
 */
export function createServiceDataSource(opts: ServiceDataSourceOptions): DataSource {
  const options: DataSourceOptions = {
    type: 'postgres',
    url: opts.url,
    schema: opts.schema,
    entities: opts.entities ?? [],
    migrations: opts.migrations ?? [],
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    migrationsRun: false,
    logging: false,
    poolSize: opts.poolSize ?? 10,
    applicationName: opts.applicationName ?? opts.schema,
    // Every session reads and writes times in UTC, whatever the server's or the database's TimeZone setting: a time
    // without an offset (a range's `from=2026-01-05`) means the same instant here as in the process and in the docs.
    extra: { connectionTimeoutMillis: 5000, options: '-c TimeZone=UTC' },
  };
  return new DataSource(options);
}
