import { DynamicModule, Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { createServiceDataSource, type ServiceDataSourceOptions } from './data-source';
import { runMigrations } from './migrations';
import { DatabaseReadinessCheck } from './database-readiness';

export interface PersistenceModuleOptions extends ServiceDataSourceOptions {
  /** Run pending migrations when the module starts (default true). */
  migrateOnBoot?: boolean;
}

const OPTIONS = Symbol('PERSISTENCE_OPTIONS');

@Injectable()
class DataSourceCloser implements OnApplicationShutdown {
  constructor(@Inject(DataSource) private readonly ds: DataSource) {}
  async onApplicationShutdown(): Promise<void> {
    if (this.ds.isInitialized) await this.ds.destroy();
  }
}

/** Provides the service's `DataSource` (inject the `DataSource` class) bound to its schema. */
@Global()
@Module({})
export class PersistenceModule {
  static forRoot(options: PersistenceModuleOptions): DynamicModule {
    return {
      module: PersistenceModule,
      providers: [
        { provide: OPTIONS, useValue: options },
        {
          provide: DataSource,
          inject: [OPTIONS],
          useFactory: async (opts: PersistenceModuleOptions) => {
            const ds = createServiceDataSource(opts);
            await ds.initialize();
            if (opts.migrateOnBoot !== false) await runMigrations(ds);
            return ds;
          },
        },
        DataSourceCloser,
        DatabaseReadinessCheck,
      ],
      exports: [DataSource, DatabaseReadinessCheck],
    };
  }
}
