import { randomBytes } from 'node:crypto';
import { dockerAvailable, infraFromEnv, MISSING_INFRA_MESSAGE } from './infra';
import { startContainers } from './containers';

/** Jest global setup: one run id for naming, and infrastructure from env or testcontainers. */
export default async function globalSetup(): Promise<void> {
  process.env.ELO_TEST_RUN_ID ??= randomBytes(3).toString('hex');
  if (infraFromEnv()) return;
  if (dockerAvailable()) {
    const servers = await startContainers();
    process.env.ELO_TEST_DATABASE_URL = servers.databaseUrl;
    process.env.ELO_TEST_AMQP_URL = servers.amqpUrl;
    process.env.ELO_TEST_RABBITMQ_MANAGEMENT_URL = servers.managementUrl;
    return;
  }
  // Unit tests still run; integration specs fail with this message from requireInfra().
  process.stderr.write(`\n[elo tests] ${MISSING_INFRA_MESSAGE}\n\n`);
}
