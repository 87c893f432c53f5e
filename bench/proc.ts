// Process accounting for benchmarks, read from /proc: CPU time, so a figure can say where an
// operation's cost went (this Node process, the PostgreSQL backends serving the bench's database,
// the RabbitMQ node; /proc counts in clock ticks of 10 ms), and memory.
import { readdirSync, readFileSync } from 'node:fs';

/** CPU time (user + system) a process has used so far, in ms. */
export function cpuMs(pid: number | string): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Processes whose command line passes `test`, with their CPU so far in ms, by pid. */
export function cpuOf(test: (cmdline: string) => boolean): Map<string, number> {
  const byPid = new Map<string, number>();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))) byPid.set(pid, cpuMs(pid));
    } catch {
      /* the process ended meanwhile */
    }
  }
  return byPid;
}

/** The PostgreSQL client backends serving `database` (autovacuum excluded: its work is not the bench's). */
export const pgCpuMs = (database: string) => cpuOf((c) => c.includes(` ${database} `) && !c.includes('autovacuum'));

/** CPU used between two samples by the processes alive at the second (one born in between counts whole), in ms. */
export function cpuDelta(before: Map<string, number>, after: Map<string, number>): number {
  let total = 0;
  for (const [pid, ms] of after) total += ms - (before.get(pid) ?? 0);
  return total;
}

/**
 * The RabbitMQ node's process (beam.smp), when it runs on this machine: of the Erlang VMs that mention
 * rabbit, the one that has used the most CPU (a short-lived `rabbitmqctl` is one too, and may be gone by
 * the next reading).
 */
export function brokerPid(): string | undefined {
  return [...cpuOf((c) => c.includes('beam.smp') && c.includes('rabbit'))].sort((a, b) => b[1] - a[1])[0]?.[0];
}

/**
 * Starts a CPU meter over this process, the database's backends and the broker; `stop(n)` returns
 * each one's CPU per operation in µs for `n` operations. The broker serves every vhost, so its figure
 * includes whatever else the machine's RabbitMQ did meanwhile.
 */
export function cpuMeter(database: string): { stop(n: number): { node: number; pg: number; broker: number } } {
  const broker = brokerPid();
  const node0 = cpuMs(process.pid);
  const pg0 = pgCpuMs(database);
  const mq0 = broker ? cpuMs(broker) : 0;
  return {
    stop(n) {
      const perOp = (ms: number) => (ms * 1000) / n;
      return {
        node: perOp(cpuMs(process.pid) - node0),
        pg: perOp(cpuDelta(pg0, pgCpuMs(database))),
        broker: perOp(broker ? cpuMs(broker) - mq0 : 0),
      };
    },
  };
}

/** A process's resident memory now (VmRSS) or at its peak (VmHWM), in MB. */
export function rssMb(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
}
