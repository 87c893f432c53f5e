import 'reflect-metadata';
import { validationPipe } from '@elo/platform';
import { seededRandom } from '@elo/testing';
import { CheckDto, checkBody } from './check.dto';

/**
 * What the platform's pipe makes of a body: the DTO's fields, or the 400's body; then what checkBody
 * adds: coordinates as numbers (decimal strings pass the pipe), and they win over an address.
 */
async function viaPipe(body: unknown): Promise<unknown> {
  try {
    const dto = (await validationPipe().transform(body, { type: 'body', metatype: CheckDto })) as CheckDto;
    if (dto.lat !== undefined && dto.lng !== undefined) return { lat: Number(dto.lat), lng: Number(dto.lng) };
    return { ...dto };
  } catch (err) {
    return { error: (err as { getResponse(): unknown }).getResponse() };
  }
}

async function viaCheckBody(body: unknown): Promise<unknown> {
  try {
    return { ...(await checkBody(body)) };
  } catch (err) {
    return { error: (err as { getResponse(): unknown }).getResponse() };
  }
}

describe('checkBody', () => {
  it('decides like class-validator\'s isLatitude / isLongitude for any number', async () => {
    const { isLatitude, isLongitude } = await import('class-validator');
    const next = seededRandom(1);
    for (let i = 0; i < 20_000; i++) {
      const lat = (next() - 0.5) * 200 * 10 ** -Math.floor(next() * 10);
      const lng = (next() - 0.5) * 400 * 10 ** -Math.floor(next() * 10);
      const expected = isLatitude(lat as unknown as string) && isLongitude(lng as unknown as string);
      const got = await checkBody({ lat, lng }).then(() => true, () => false);
      if (got !== expected) throw new Error(`lat ${lat}, lng ${lng}: ${got} instead of ${expected}`);
    }
  });

  const bodies: unknown[] = [
    { lat: -25.4284, lng: -49.2733 },
    { lng: 10, lat: 0 },
    { lat: 90, lng: 180 },
    { lat: -90, lng: -180 },
    { lat: -0, lng: 0 },
    { lat: 90.0001, lng: 0 },
    { lat: 0, lng: 180.5 },
    { lat: 91, lng: 0 },
    { lat: 1e-7, lng: 2e-9 },
    { lat: 1e-6, lng: -1e-6 },
    { lat: 9.99e-7, lng: 0 },
    { lat: 0, lng: -9.99e-7 },
    { lat: 89.99999999999999, lng: 179.99999999999997 },
    { lat: 90.0000001, lng: 0 },
    { lat: 0, lng: -180.0000001 },
    { lat: 0, lng: 1e21 },
    { lat: 1e21, lng: 0 },
    { lat: Number.NaN, lng: 0 },
    { lat: Number.POSITIVE_INFINITY, lng: 0 },
    { lat: '45', lng: '10' },
    { lat: '-25.4284', lng: '-49.2733' },
    { lat: '-25.4284', lng: 'x' },
    { lat: '95', lng: '10' },
    { lat: 45 },
    { lng: 10 },
    {},
    { lat: 1, lng: 2, extra: true },
    { lat: 1, lng: 2, address: 'Rua XV, 700' },
    { lat: 1, address: 'Rua XV, 700' },
    { lat: 'x', lng: 2, address: 'Rua XV, 700' },
    { address: 'Rua XV de Novembro, 700, Curitiba' },
    { address: '' },
    { lat: null, lng: 2 },
    [1, 2],
    null,
    undefined,
    'lat=1',
    Object.assign(Object.create({ lat: 1 }), { lng: 2, x: 1 }),
  ];

  it('hands coordinates sent as strings (a form, a loose client) to the check as numbers, and they win over an address', async () => {
    expect(await checkBody({ lat: '-25.4284', lng: '-49.2733' })).toEqual({ lat: -25.4284, lng: -49.2733 });
    expect(await checkBody({ lat: -25.4284, lng: -49.2733, address: 'Rua XV, 700' })).toEqual({ lat: -25.4284, lng: -49.2733 });
    await expect(checkBody({ lat: -25.4284, address: 'Rua XV, 700' })).rejects.toThrow();
  });

  it.each(bodies.map((b) => [b]))('gives the platform pipe\'s verdict and values for %p', async (body) => {
    expect(await viaCheckBody(body)).toEqual(await viaPipe(body));
  });
});
