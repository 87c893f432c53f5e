export { createTestInfra, requireInfra, withAdminClient, type TestInfra, type InfraServers } from './infra';
export { expectEventually, type EventuallyOptions } from './expect-eventually';
export { startTcpProxy, viaProxy, type TcpProxy } from './tcp-proxy';
