export { createTestInfra, outboxEmpty, requireInfra, runScratchPath, withAdminClient, type TestInfra, type InfraServers } from './infra';
export { expectEventually, type EventuallyOptions } from './expect-eventually';
export { startTcpProxy, viaProxy, type TcpProxy } from './tcp-proxy';
export { expectKeyRotation, type KeyRotationScenario, type ReencryptionJob, type RotatingApp } from './key-rotation';
export { callApi } from './http';
export { seededRandom } from './random';
export { TEST_REQUEST_PRIVATE_RANGES } from './egress';
export { expectRetained, type RetainedTable } from './retention';
