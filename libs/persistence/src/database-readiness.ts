import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** Readiness: PostgreSQL answers a trivial query. */
@Injectable()
export class DatabaseReadinessCheck {
  readonly name = 'postgres';
  constructor(private readonly ds: DataSource) {}
  async check(): Promise<void> {
    await this.ds.query('SELECT 1');
  }
}
