export { classifyAddress, DEFAULT_REQUEST_PRIVATE_RANGES, type AddressClass } from './address-policy';
export { EgressError, type EgressErrorKind } from './egress-error';
export {
  EGRESS_DEFAULTS,
  HttpEgress,
  isReservedHeader,
  type EgressPolicy,
  type EgressRequest,
  type EgressResolver,
  type EgressResponse,
  type EgressStreamResponse,
  type HttpEgressOptions,
} from './http-egress.service';
export { HttpEgressModule, egressFromEnv } from './http-egress.module';
export { SSRF_CASES, type SsrfCase } from './ssrf-cases';
export { parseRetryAfter } from './retry-after';
