import type { DataSource } from 'typeorm';

/** What a service's retention is checked against: its table, the timestamp column and the days it keeps. */
export interface RetainedTable {
  table: string;
  column: string;
  days: number;
}

/**
 * A service's retention, end to end: one real row of `t.table` (the service wrote it) is aged past
 * `t.days` and a younger one a day short of it; `sweep` (the app's RetentionSweeper) deletes the first and
 * keeps the second and every other row. The table needs at least two rows.
 */
export async function expectRetained(ds: DataSource, sweep: () => Promise<Record<string, number>>, t: RetainedTable): Promise<void> {
  const rows = (await ds.query(`SELECT ctid::text AS ctid FROM ${t.table} LIMIT 2`)) as Array<{ ctid: string }>;
  if (rows.length < 2) throw new Error(`${t.table} needs two rows to check its retention, has ${rows.length}`);
  const total = async () => ((await ds.query(`SELECT count(*)::int AS n FROM ${t.table}`)) as Array<{ n: number }>)[0]!.n;
  const before = await total();
  const age = async (ctid: string, days: number) =>
    ((await ds.query(`UPDATE ${t.table} SET ${t.column} = now() - make_interval(days => $2) WHERE ctid = $1::tid RETURNING ctid::text AS ctid`, [ctid, days])) as [Array<{ ctid: string }>, number])[0][0]!.ctid;
  await age(rows[0]!.ctid, t.days + 1);
  const kept = await age(rows[1]!.ctid, t.days - 1);
  const swept = await sweep();
  if (swept[t.table] !== 1) throw new Error(`the sweep deleted ${swept[t.table]} rows of ${t.table}, not the 1 aged past ${t.days} days`);
  if ((await total()) !== before - 1) throw new Error(`${t.table}: ${before} rows before the sweep, ${await total()} after (expected ${before - 1})`);
  const [still] = (await ds.query(`SELECT count(*)::int AS n FROM ${t.table} WHERE ${t.column} < now() - make_interval(days => $1)`, [t.days - 2])) as Array<{ n: number }>;
  if (still!.n !== 1) throw new Error(`${t.table}: the row a day inside the retention (${kept}) was not kept`);
}
