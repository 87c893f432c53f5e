import { Global, Module } from '@nestjs/common';
import { HttpEgress } from './http-egress.service';

/** Parses EGRESS_ALLOW_PRIVATE: a comma list of CIDRs or hostnames reachable although private. */
export function allowPrivateFromEnv(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Parses EGRESS_REQUEST_PRIVATE_RANGES: the comma list of CIDRs a per-request allowance (e.g. a PBX
 * profile's host) may open. Unset or blank means the default private-network ranges (undefined).
 */
export function requestPrivateRangesFromEnv(value: string | undefined): string[] | undefined {
  const ranges = allowPrivateFromEnv(value);
  return ranges.length ? ranges : undefined;
}

/** An HttpEgress configured from the deployment's settings (EGRESS_ALLOW_PRIVATE, EGRESS_REQUEST_PRIVATE_RANGES). */
export function egressFromEnv(env: { EGRESS_ALLOW_PRIVATE?: string; EGRESS_REQUEST_PRIVATE_RANGES?: string }): HttpEgress {
  return new HttpEgress({
    allowPrivate: allowPrivateFromEnv(env.EGRESS_ALLOW_PRIVATE),
    requestPrivateRanges: requestPrivateRangesFromEnv(env.EGRESS_REQUEST_PRIVATE_RANGES),
  });
}

@Global()
@Module({
  providers: [
    {
      provide: HttpEgress,
      useFactory: () => egressFromEnv(process.env),
    },
  ],
  exports: [HttpEgress],
})
export class HttpEgressModule {}
