import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EgressError } from './egress-error';
import { HttpEgressModule } from './http-egress.module';
import { HttpEgress } from './http-egress.service';

@Module({ imports: [HttpEgressModule] })
class AppModule {}

describe('HttpEgressModule', () => {
  const previous = process.env['EGRESS_ALLOW_PRIVATE'];
  const previousRanges = process.env['EGRESS_REQUEST_PRIVATE_RANGES'];
  afterEach(() => {
    if (previous === undefined) delete process.env['EGRESS_ALLOW_PRIVATE'];
    else process.env['EGRESS_ALLOW_PRIVATE'] = previous;
    if (previousRanges === undefined) delete process.env['EGRESS_REQUEST_PRIVATE_RANGES'];
    else process.env['EGRESS_REQUEST_PRIVATE_RANGES'] = previousRanges;
  });

  it('provides one HttpEgress configured from EGRESS_ALLOW_PRIVATE', async () => {
    process.env['EGRESS_ALLOW_PRIVATE'] = '10.9.0.0/16';
    const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
    try {
      const egress = app.get(HttpEgress);
      expect(egress).toBeInstanceOf(HttpEgress);
      // 10.9/16 is allowed (fails later, at connect), 10.8/16 stays blocked.
      const blocked = await egress
        .request({ method: 'GET', url: 'http://10.8.0.1/' })
        .catch((e: unknown) => e);
      expect(blocked).toBeInstanceOf(EgressError);
      expect((blocked as EgressError).kind).toBe('blocked');
    } finally {
      await app.close();
    }
  });

  it('takes the ranges a per-request allowance may open from EGRESS_REQUEST_PRIVATE_RANGES', async () => {
    process.env['EGRESS_REQUEST_PRIVATE_RANGES'] = '10.9.0.0/16';
    const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
    try {
      const err = await app
        .get(HttpEgress)
        .request({ method: 'GET', url: 'http://10.8.0.1/', policy: { allowPrivate: ['10.8.0.1'] } })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: 'blocked', reason: expect.stringContaining('opens only private-network addresses (10.9.0.0/16)') });
    } finally {
      await app.close();
    }
  });

  it('refuses a malformed allow-list at boot', async () => {
    process.env['EGRESS_ALLOW_PRIVATE'] = '10.0.0.0/99';
    await expect(
      NestFactory.createApplicationContext(AppModule, { logger: false, abortOnError: false }),
    ).rejects.toThrow(/invalid CIDR/);
  });
});
