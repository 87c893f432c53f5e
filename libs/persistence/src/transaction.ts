import type { DataSource, EntityManager } from 'typeorm';

/**
 * Runs `work` in one database transaction, or joins the caller's when `manager` is given.
 * The outbox and the inbox take the same manager, so domain changes, outbox rows and inbox rows
 * commit or roll back together.
 */
export async function inTransaction<T>(
  ds: DataSource,
  work: (manager: EntityManager) => Promise<T>,
  manager?: EntityManager,
): Promise<T> {
  if (manager?.queryRunner?.isTransactionActive) return work(manager);
  return ds.transaction(work);
}
