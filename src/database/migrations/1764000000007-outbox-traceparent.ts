import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The trace context (W3C traceparent) of the work that recorded each event: its deliveries join that trace. */
export class OutboxTraceparent1764000000007 implements MigrationInterface {
  name = 'OutboxTraceparent1764000000007';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE outbox ADD COLUMN traceparent varchar(100)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE outbox DROP COLUMN traceparent`);
  }
}
