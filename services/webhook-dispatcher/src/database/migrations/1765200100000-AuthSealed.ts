import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"dispatcher"';

/**
 * Literal credentials of an integration's auth helper (`auth.token`, `auth.password`, `auth.value` written
 * out rather than as `{secret.x}`), sealed like the secrets; the request JSON keeps `••••` in their place.
 * Rows saved before keep them in the request JSON and are read as they are (and sealed on their next change).
 */
export class AuthSealed1765200100000 implements MigrationInterface {
  name = 'AuthSealed1765200100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${S}.integrations ADD COLUMN auth_sealed text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${S}.integrations DROP COLUMN auth_sealed`);
  }
}
