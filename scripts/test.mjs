#!/usr/bin/env node
// `npm test`: installs dependencies when missing, finds PostgreSQL and RabbitMQ (environment URLs,
// else the local servers, else testcontainers when Docker runs), then runs every jest spec.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ensureDependencies, reachable, root } from './lib.mjs';

ensureDependencies();
const env = { ...process.env };
if (!env.ELO_TEST_DATABASE_URL && (await reachable('127.0.0.1', 5432))) {
  env.ELO_TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
}
if (!env.ELO_TEST_AMQP_URL && (await reachable('127.0.0.1', 5672))) {
  env.ELO_TEST_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';
  if (!(await reachable('127.0.0.1', 15672))) {
    process.stderr.write(
      'RabbitMQ is running but its management plugin (port 15672) is not: the tests create a vhost per run.\n' +
        'Enable it with `rabbitmq-plugins enable rabbitmq_management`.\n',
    );
    process.exit(1);
  }
}
const jest = join(root, 'node_modules', '.bin', 'jest');
const r = spawnSync(jest, process.argv.slice(2), { cwd: root, env, stdio: 'inherit' });
process.exit(r.status ?? 1);
