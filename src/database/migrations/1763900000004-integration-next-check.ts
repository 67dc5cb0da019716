import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Integrations get the health-check scheduler's due time, as connections
 * already have: NULL means never checked by the scheduler (due at once when
 * HEALTH_CHECK_INTERVAL_MINUTES is set), otherwise the next run claims the row
 * once it is in the past.
 */
export class IntegrationNextCheck1763900000004 implements MigrationInterface {
  name = 'IntegrationNextCheck1763900000004';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE integrations ADD COLUMN next_check_at timestamptz`);
    await q.query(`CREATE INDEX integrations_next_check ON integrations (next_check_at) WHERE next_check_at IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX integrations_next_check`);
    await q.query(`ALTER TABLE integrations DROP COLUMN next_check_at`);
  }
}
