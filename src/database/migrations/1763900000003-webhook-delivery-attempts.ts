import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Webhook deliveries are one row per attempt: attempted_at says when the
 * request was sent (created_at is when the attempt was scheduled), and the
 * attempts of one event to one endpoint are looked up together by :retry.
 */
export class WebhookDeliveryAttempts1763900000003 implements MigrationInterface {
  name = 'WebhookDeliveryAttempts1763900000003';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE webhook_deliveries ADD COLUMN attempted_at timestamptz`);
    await q.query(`CREATE INDEX webhook_deliveries_event ON webhook_deliveries (tenant_id, endpoint_id, event_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX webhook_deliveries_event`);
    await q.query(`ALTER TABLE webhook_deliveries DROP COLUMN attempted_at`);
  }
}
