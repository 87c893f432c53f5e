import { Groups } from '@elo/persistence';
import { Injectable } from '@nestjs/common';
import type { CloudEvent } from '@elo/contracts';
import { Outbox } from '@elo/messaging';
import { DataSource } from 'typeorm';

/** A check row and its viability.checked event, as one HTTP check writes them. */
export interface CheckRecord {
  id: string;
  tenantId: string;
  via: string;
  lat: number | null;
  lng: number | null;
  status: string;
  boxId: string | null;
  /** What the row keeps of the answer (see storedResult). */
  result: Record<string, unknown>;
  event: CloudEvent;
}

/** Records in one statement at most (Outbox.addWith takes up to 1,000 events). */
const MAX_GROUP = 200;
/** Statements in flight at once (each holds a pool connection). */
const LANES = 2;

/**
 * The group's rows travel as one JSON array (one JSON.stringify, results inline), not as eight array
 * parameters: an array of JSON texts is escaped element by element by the driver and unescaped by
 * PostgreSQL before each result is parsed. Node 17 -> 6 µs a record, PostgreSQL about 95 -> 82 µs a
 * record (groups of 10 on 1M boxes).
 */
const INSERT_CHECKS = `INSERT INTO viability.checks (id, tenant_id, via, lat, lng, status, box_id, result)
  SELECT * FROM json_to_recordset($1::json) AS r(id uuid, tenant_id uuid, via text, lat float8, lng float8, status text, box_id uuid, result jsonb)`;

/**
 * Writes the records of HTTP checks in groups (see Groups): the checks answered while a write is in
 * flight queue, and a free lane writes everything queued with one statement (the check rows by unnest, their
 * viability.checked events in the outbox, asynchronous commit: see ChecksService.run).
 * Every check is answered only after its record is written, as before; what changes is that
 * concurrent checks share the round trip, the commit and the relay's wake-up (at 1,000 checks/s one
 * record a statement made the write and its commit cost more than the check itself).
 */
@Injectable()
export class CheckRecordsService {
  private readonly groups = new Groups<CheckRecord, boolean>((records) => this.insert(records).then((written) => records.map(() => written)), {
    maxGroup: MAX_GROUP,
    lanes: LANES,
  });

  constructor(
    private readonly ds: DataSource,
    private readonly outbox: Outbox,
  ) {}

  async write(record: CheckRecord): Promise<void> {
    await this.groups.submit(record);
  }

  private insert(records: CheckRecord[]): Promise<boolean> {
    const rows = records.map((r) => ({ id: r.id, tenant_id: r.tenantId, via: r.via, lat: r.lat, lng: r.lng, status: r.status, box_id: r.boxId, result: r.result }));
    return this.outbox.addWith(
      this.ds.manager,
      { sql: INSERT_CHECKS, params: [JSON.stringify(rows)] },
      records.map((r) => r.event),
      { synchronousCommit: false },
    );
  }
}
