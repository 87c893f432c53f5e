import { parseArgs } from './resend';

const ID = '0b6f1a52-3c7d-4e8f-9a0b-1c2d3e4f5a6b';

describe('resend CLI arguments', () => {
  it('reads a tenant and filters, repeatable or comma-separated, with failed as the default outcome', () => {
    const o = parseArgs([
      '--tenant', 't1', `--integration=${ID}`, '--event-type', 'chat.message.received,telephony.call.ended',
      '--error-class', 'timeout', '--error-class', 'http_status', '--http-status', '500,503',
      '--from', '2026-01-01', '--to', '2026-01-02T10:00:00Z', '--limit', '10', '--chunk', '2', '--dry-run',
    ]);
    expect(o.filter).toEqual({
      outcome: 'failed', tenantId: 't1', integrationIds: [ID], eventTypes: ['chat.message.received', 'telephony.call.ended'],
      errorClasses: ['timeout', 'http_status'], httpStatuses: [500, 503],
      from: new Date('2026-01-01'), to: new Date('2026-01-02T10:00:00Z'), limit: 10,
    });
    expect(o).toMatchObject({ chunk: 2, dryRun: true, help: false });
    expect(parseArgs(['--all-tenants', '--outcome', 'succeeded']).filter).toEqual({ outcome: 'succeeded', allTenants: true });
  });

  it('refuses what would be ambiguous or wrong, saying why', () => {
    expect(() => parseArgs([])).toThrow(/--tenant <id>\) or --all-tenants/);
    expect(() => parseArgs(['--tenant', 't', '--all-tenants'])).toThrow(/exclude each other/);
    expect(() => parseArgs(['--tenant'])).toThrow(/--tenant needs a value/);
    expect(() => parseArgs(['--tenant', '--dry-run'])).toThrow(/--tenant needs a value/);
    expect(() => parseArgs(['--tenant', 't', '--outcome', 'pending'])).toThrow(/failed or succeeded/);
    expect(() => parseArgs(['--tenant', 't', '--integration', 'x'])).toThrow(/uuid/);
    expect(() => parseArgs(['--tenant', 't', '--limit', '0'])).toThrow(/integer ≥ 1/);
    expect(() => parseArgs(['--tenant', 't', '--from', 'yesterday'])).toThrow(/ISO date/);
    expect(() => parseArgs(['--tenant', 't', '--force'])).toThrow(/unknown option --force/);
    expect(parseArgs(['--help']).help).toBe(true);
  });
});
