import { nextDelaySeconds } from './retry-policy';

describe('retry policy', () => {
  const schedule = [5, 300, 1800];
  const mid = () => 0.5;

  it('follows the schedule with ±10 % jitter and ends when it is exhausted', () => {
    expect(nextDelaySeconds({ schedule, attempts: 1, errorClass: 'http_status', httpStatus: 500, random: mid })).toBeCloseTo(5);
    expect(nextDelaySeconds({ schedule, attempts: 2, errorClass: 'http_status', httpStatus: 500, random: () => 0 })).toBeCloseTo(270);
    expect(nextDelaySeconds({ schedule, attempts: 3, errorClass: 'http_status', httpStatus: 500, random: () => 1 })).toBeCloseTo(1980);
    expect(nextDelaySeconds({ schedule, attempts: 4, errorClass: 'http_status', httpStatus: 500 })).toBeUndefined();
  });

  it('waits at least a minute after a timeout or a 429, and honours Retry-After', () => {
    expect(nextDelaySeconds({ schedule, attempts: 1, errorClass: 'timeout', random: mid })).toBe(60);
    expect(nextDelaySeconds({ schedule, attempts: 1, errorClass: 'http_status', httpStatus: 429, random: mid })).toBe(60);
    expect(nextDelaySeconds({ schedule, attempts: 1, errorClass: 'http_status', httpStatus: 503, retryAfter: '120', random: mid })).toBe(120);
  });
});
