/**
 * Bulk resend of finished deliveries, with a progress bar.
 *
 *   node dist/services/webhook-dispatcher/src/cli/resend.js --tenant <id> [filters]
 *   node -r @swc-node/register services/webhook-dispatcher/src/cli/resend.ts --tenant <id> [filters]
 *
 * Reads DATABASE_URL like the service. Resent deliveries keep their id (the receiver sees the same
 * `webhook-id`) and start a fresh retry schedule; the running service's workers send them.
 */
import { SingleBar } from 'cli-progress';
import { Client } from 'pg';
import { BulkResend, type ResendFilter } from '../deliveries/bulk-resend.service';

export const USAGE = `Usage: resend --tenant <id> | --all-tenants  [options]

Puts finished deliveries back to pending; the running webhook-dispatcher sends them again
(same webhook-id, fresh retry schedule). Deliveries of disabled integrations are skipped.

  --tenant <id>           the tenant whose deliveries to resend
  --all-tenants           every tenant (must be said explicitly)
  --integration <id>      only this integration (repeatable, or comma-separated)
  --outcome <o>           failed (default) or succeeded
  --event-type <type>     only these event types (repeatable, or comma-separated)
  --error-class <class>   only these last error classes: timeout, dns, connection, tls, http_status, ...
  --http-status <n>       only these last HTTP statuses (repeatable, or comma-separated)
  --from <iso time>       created at or after
  --to <iso time>         created before
  --limit <n>             at most n deliveries (oldest first)
  --chunk <n>             rows updated per statement (default 500)
  --dry-run               count what would be resent, change nothing
  --help

Environment: DATABASE_URL (the service's database).`;

export interface ResendOptions {
  filter: ResendFilter;
  chunk: number;
  dryRun: boolean;
  help: boolean;
}

/** Parses the command line; throws an Error whose message says what is wrong. */
export function parseArgs(argv: string[]): ResendOptions {
  const filter: ResendFilter = { outcome: 'failed' };
  const opts: ResendOptions = { filter, chunk: 500, dryRun: false, help: false };
  const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);
  const int = (name: string, v: string, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name} needs an integer ≥ ${min}, got "${v}"`);
    return n;
  };
  const time = (name: string, v: string) => {
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) throw new Error(`${name} needs an ISO date or time, got "${v}"`);
    return d;
  };
  const uuid = (v: string) => {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v)) throw new Error(`--integration needs an integration id (uuid), got "${v}"`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || (inline === undefined && v.startsWith('--'))) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--tenant': filter.tenantId = value(); break;
      case '--all-tenants': filter.allTenants = true; break;
      case '--integration': filter.integrationIds = [...(filter.integrationIds ?? []), ...list(value()).map(uuid)]; break;
      case '--outcome': {
        const v = value();
        if (v !== 'failed' && v !== 'succeeded') throw new Error(`--outcome is failed or succeeded, got "${v}"`);
        filter.outcome = v;
        break;
      }
      case '--event-type': filter.eventTypes = [...(filter.eventTypes ?? []), ...list(value())]; break;
      case '--error-class': filter.errorClasses = [...(filter.errorClasses ?? []), ...list(value())]; break;
      case '--http-status': filter.httpStatuses = [...(filter.httpStatuses ?? []), ...list(value()).map((v) => int('--http-status', v, 100))]; break;
      case '--from': filter.from = time('--from', value()); break;
      case '--to': filter.to = time('--to', value()); break;
      case '--limit': filter.limit = int('--limit', value(), 1); break;
      case '--chunk': opts.chunk = int('--chunk', value(), 1); break;
      case '--dry-run': opts.dryRun = true; break;
      case '--help': case '-h': opts.help = true; break;
      default: throw new Error(`unknown option ${arg}`);
    }
  }
  if (!opts.help && !filter.tenantId && !filter.allTenants) throw new Error('say which tenant (--tenant <id>) or --all-tenants');
  if (filter.tenantId && filter.allTenants) throw new Error('--tenant and --all-tenants exclude each other');
  return opts;
}

/** Runs a parsed command against `db`; writes the bar and the summary to `out`. */
export async function runResend(db: Client, opts: ResendOptions, out: NodeJS.WritableStream & { isTTY?: boolean }): Promise<{ matched: number; requeued: number }> {
  const bulk = new BulkResend(db);
  const { ids, skippedDisabled } = await bulk.select(opts.filter);
  const say = (s: string) => out.write(`${s}\n`);
  say(`${ids.length} deliver${ids.length === 1 ? 'y' : 'ies'} to resend${skippedDisabled ? `; ${skippedDisabled} skipped (integration disabled: enable it first)` : ''}`);
  if (opts.dryRun || ids.length === 0) return { matched: ids.length, requeued: 0 };
  const bar = new SingleBar({
    format: 'resending [{bar}] {percentage}% | {value}/{total} | {eta_formatted} left',
    stream: out,
    noTTYOutput: !out.isTTY,
    notTTYSchedule: 1_000,
    hideCursor: Boolean(out.isTTY),
  });
  bar.start(ids.length, 0);
  try {
    const r = await bulk.requeue(ids, opts.filter.outcome, { chunk: opts.chunk, progress: (done) => bar.update(done) });
    bar.stop();
    say(`${r.requeued} queued for sending${r.changed ? `; ${r.changed} changed meanwhile and left alone` : ''}`);
    return { matched: ids.length, requeued: r.requeued };
  } catch (err) {
    bar.stop();
    throw err;
  }
}

async function main(): Promise<void> {
  let opts: ResendOptions;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`resend: ${(err as Error).message}\n\n${USAGE}\n`);
    process.exit(2);
  }
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const url = process.env['DATABASE_URL'];
  if (!url) {
    process.stderr.write('resend: DATABASE_URL is not set\n');
    process.exit(2);
  }
  const db = new Client({ connectionString: url, application_name: 'dispatcher-resend' });
  await db.connect();
  try {
    await runResend(db, opts, process.stdout);
  } finally {
    await db.end();
  }
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`resend failed: ${err.message}\n`);
    process.exit(1);
  });
}
