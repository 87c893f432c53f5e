import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"dispatcher"';

/**
 * A delivery's place in its retry schedule, apart from `attempts`: a resend starts the schedule again
 * (schedule_step = 0) while attempts keep counting, so the attempt log never numbers 1, 2, 3, 1.
 * Rows already pending carry on where their schedule stood.
 */
export class ScheduleStep1765200000000 implements MigrationInterface {
  name = 'ScheduleStep1765200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${S}.deliveries ADD COLUMN schedule_step int NOT NULL DEFAULT 0`);
    await q.query(`UPDATE ${S}.deliveries SET schedule_step = attempts WHERE status = 'pending' AND attempts > 0`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${S}.deliveries DROP COLUMN schedule_step`);
  }
}
