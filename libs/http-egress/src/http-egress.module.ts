import { Global, Module } from '@nestjs/common';
import { HttpEgress } from './http-egress.service';

/** Parses EGRESS_ALLOW_PRIVATE: a comma list of CIDRs or hostnames reachable although private. */
export function allowPrivateFromEnv(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

@Global()
@Module({
  providers: [
    {
      provide: HttpEgress,
      useFactory: () =>
        new HttpEgress({ allowPrivate: allowPrivateFromEnv(process.env['EGRESS_ALLOW_PRIVATE']) }),
    },
  ],
  exports: [HttpEgress],
})
export class HttpEgressModule {}
