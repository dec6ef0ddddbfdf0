import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Dead letters an operator handles: discarded (kept, never retried again) or delivered by an operator's retry
 * (kept, no longer a dead letter); and every delivery's history of attempts and operator actions.
 */
export class DeadLetterHistory1764000000006 implements MigrationInterface {
  name = 'DeadLetterHistory1764000000006';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE event_deliveries ADD COLUMN history jsonb NOT NULL DEFAULT '[]'::jsonb`);
    await q.query(`ALTER TABLE event_deliveries DROP CONSTRAINT event_deliveries_status_check`);
    await q.query(`ALTER TABLE event_deliveries ADD CONSTRAINT event_deliveries_status_check CHECK (status IN ('retrying', 'dead', 'discarded', 'delivered'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM event_deliveries WHERE status IN ('discarded', 'delivered')`);
    await q.query(`ALTER TABLE event_deliveries DROP CONSTRAINT event_deliveries_status_check`);
    await q.query(`ALTER TABLE event_deliveries ADD CONSTRAINT event_deliveries_status_check CHECK (status IN ('retrying', 'dead'))`);
    await q.query(`ALTER TABLE event_deliveries DROP COLUMN history`);
  }
}
