import { DEFAULT_REQUEST_PRIVATE_RANGES } from '@elo/http-egress';

/**
 * `EGRESS_REQUEST_PRIVATE_RANGES` for tests and benches: the default private ranges a request may open
 * (a PBX on the LAN) plus loopback, where the local fakes listen.
 */
export const TEST_REQUEST_PRIVATE_RANGES = [...DEFAULT_REQUEST_PRIVATE_RANGES, '127.0.0.0/8'].join(',');
