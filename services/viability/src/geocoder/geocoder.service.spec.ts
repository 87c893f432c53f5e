import type { HttpEgress } from '@elo/http-egress';
import { expectEventually } from '@elo/testing';
import type { DataSource } from 'typeorm';
import { ViabilityConfig } from '../config/viability.config';
import { GeocoderBusyError, GeocoderService } from './geocoder.service';

describe('GeocoderService: the rate-limit queue', () => {
  it('refuses a lookup at once when GEOCODER_MAX_QUEUE are already waiting, and takes them again once they are done', async () => {
    const answers: Array<() => void> = [];
    const egress = {
      request: () =>
        new Promise((resolve) => answers.push(() => resolve({ status: 200, headers: {}, body: Buffer.from('[]') }))),
    } as unknown as HttpEgress;
    const ds = { query: async () => [] } as unknown as DataSource;
    const config = Object.assign(new ViabilityConfig(), { GEOCODER_BASE_URL: 'http://geocoder.test', GEOCODER_MIN_INTERVAL_MS: 0, GEOCODER_MAX_QUEUE: 2 });
    const geocoder = new GeocoderService(ds, egress, config);
    const waiting = [geocoder.locate('a'), geocoder.locate('b')];
    await expect(geocoder.locate('c')).rejects.toBeInstanceOf(GeocoderBusyError);
    await expect(geocoder.locate('c')).rejects.toThrow(/too many address lookups are waiting \(2\)/);
    // The queue drains one at a time: answer each call as it reaches the fake.
    for (let i = 0; i < 2; i++) {
      await expectEventually(() => expect(answers.length).toBeGreaterThan(0));
      answers.shift()!();
    }
    await expect(Promise.all(waiting)).resolves.toEqual([
      { found: false, reason: 'the address was not found' },
      { found: false, reason: 'the address was not found' },
    ]);
    const again = geocoder.locate('d');
    await expectEventually(() => expect(answers.length).toBeGreaterThan(0));
    answers.shift()!();
    await expect(again).resolves.toMatchObject({ found: false });
  });
});

describe('GeocoderService: the cache key', () => {
  it('is the same for one address however its accents are encoded (composed or decomposed), its case and its spacing', async () => {
    const keys: unknown[] = [];
    const ds = {
      query: async (sql: string, params: unknown[]) => {
        if (sql.startsWith('SELECT')) keys.push(params[0]);
        return [];
      },
    } as unknown as DataSource;
    const egress = { request: async () => ({ status: 200, headers: {}, body: Buffer.from('[]') }) } as unknown as HttpEgress;
    const config = Object.assign(new ViabilityConfig(), { GEOCODER_BASE_URL: 'http://geocoder.test', GEOCODER_MIN_INTERVAL_MS: 0 });
    const geocoder = new GeocoderService(ds, egress, config);
    // "São João" as most keyboards compose it, and as macOS and iOS often send it (a + combining tilde).
    for (const address of ['Rua São João, 10', 'Rua Sa\u0303o Joa\u0303o, 10', '  RUA SÃO  JOÃO, 10 ']) await geocoder.locate(address);
    expect(new Set(keys)).toEqual(new Set(['rua são joão, 10']));
  });
});
