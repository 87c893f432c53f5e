import type { StartedTestContainer } from 'testcontainers';
import type { InfraServers } from './infra';

const started: StartedTestContainer[] = [];

/** Starts PostGIS and RabbitMQ (with management) with testcontainers; used only when Docker is present. */
export async function startContainers(): Promise<InfraServers> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const pg = await new GenericContainer('postgis/postgis:15-3.4')
    .withEnvironment({ POSTGRES_PASSWORD: 'postgres' })
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start();
  const mq = await new GenericContainer('rabbitmq:3.13-management')
    .withExposedPorts(5672, 15672)
    .withWaitStrategy(Wait.forLogMessage(/Server startup complete/))
    .start();
  started.push(pg, mq);
  return {
    databaseUrl: `postgres://postgres:postgres@${pg.getHost()}:${pg.getMappedPort(5432)}/postgres`,
    amqpUrl: `amqp://guest:guest@${mq.getHost()}:${mq.getMappedPort(5672)}`,
    managementUrl: `http://guest:guest@${mq.getHost()}:${mq.getMappedPort(15672)}`,
  };
}

export async function stopContainers(): Promise<void> {
  await Promise.all(started.splice(0).map((c) => c.stop()));
}
