export { createServiceDataSource, type ServiceDataSourceOptions } from './data-source';
export { migrateCommand, runMigrations, runSchemaMigrations } from './migrations';
export { PersistenceModule, type PersistenceModuleOptions } from './persistence.module';
export { inTransaction } from './transaction';
export { DatabaseReadinessCheck } from './database-readiness';
export { afterCommit, NOTIFY_MAX_BYTES, PostCommitNotifier } from './after-commit';
export { Groups, type GroupOptions } from './groups';
export { PgListener, type PgListenerOptions } from './listener';
export { mayNeedStorable, returnedRows, storable, storableString } from './storable';
