import { featureToRow, toRow } from './inventory-parser';

describe('inventory rows', () => {
  const box = (props: Record<string, unknown>) =>
    toRow('boxes', { external_id: 'CTO-1', name: 'CTO 1', status: 'deployed', port_capacity: 16, ports_in_use: 2, ...props }, 2, -25.43, -49.27);

  it('takes ids, names and port counts given as text or as numbers', () => {
    expect(box({})).toMatchObject({ externalId: 'CTO-1', name: 'CTO 1', portCapacity: 16, portsInUse: 2 });
    expect(box({ external_id: 1234, port_capacity: '8', ports_in_use: '0', pole_external_id: 77 })).toMatchObject({ externalId: '1234', portCapacity: 8, portsInUse: 0, pole: '77' });
  });

  it('refuses objects, arrays and booleans instead of storing "[object Object]" or true as 1', () => {
    expect(box({ external_id: { a: 1 } })).toBe('external_id and name must be text or a number');
    expect(box({ name: ['a', 'b'] })).toBe('external_id and name must be text or a number');
    expect(box({ port_capacity: true })).toMatch(/^port_capacity must be a whole number/);
    expect(box({ ports_in_use: false })).toMatch(/^ports_in_use must be a whole number/);
    expect(box({ pole_external_id: { id: 1 } })).toBe('pole_external_id must be text or a number');
  });

  it('refuses a coordinate that is not a number or decimal text (null, a boolean, blank text, an array) instead of reading it as 0 or as the number inside', () => {
    const pole = (coordinates: unknown[]) => featureToRow('poles', { type: 'Feature', geometry: { type: 'Point', coordinates }, properties: { external_id: 'P-1' } }, 1);
    expect(pole([-49.27, -25.43])).toMatchObject({ lat: -25.43, lng: -49.27 });
    expect(pole(['-49,27', '-25.43'])).toMatchObject({ lat: -25.43, lng: -49.27 });
    expect(pole([-49.27, null])).toMatch(/^lat must be a number/);
    expect(pole([null, -25.43])).toMatch(/^lng must be a number/);
    expect(pole([false, -25.43])).toMatch(/^lng must be a number/);
    expect(pole([-49.27, ' '])).toMatch(/^lat must be a number/);
    expect(pole([-49.27, [-25.43]])).toMatch(/^lat must be a number/);
    expect(toRow('poles', { external_id: 'P-2' }, 2, null, null)).toMatch(/^lat must be a number/);
  });

  it('reads coordinates and port counts written as decimals only: hexadecimal, binary, exponents, Infinity and blank text are refused, not read as numbers', () => {
    const pole = (lat: unknown) => toRow('poles', { external_id: 'P-1' }, 2, lat, -49.27);
    expect(pole('-25.43')).toMatchObject({ lat: -25.43 });
    expect(pole(' +25,43 ')).toMatchObject({ lat: 25.43 });
    for (const lat of ['0x10', '0b1', '0o7', '1e1', 'Infinity', '-Infinity', '1_0', '.', '-']) expect([lat, pole(lat)]).toEqual([lat, expect.stringMatching(/^lat must be a number/)]);
    expect(box({ port_capacity: '0x10' })).toMatch(/^port_capacity must be a whole number/);
    expect(box({ port_capacity: '1e1' })).toMatch(/^port_capacity must be a whole number/);
    expect(box({ port_capacity: ' ' })).toMatch(/^port_capacity must be a whole number/);
    expect(box({ ports_in_use: '0b1' })).toMatch(/^ports_in_use must be a whole number/);
    expect(box({ port_capacity: ' 16 ', ports_in_use: '+2' })).toMatchObject({ portCapacity: 16, portsInUse: 2 });
  });
});
