export { createTestInfra, requireInfra, withAdminClient, type TestInfra, type InfraServers } from './infra';
export { expectEventually, type EventuallyOptions } from './expect-eventually';
