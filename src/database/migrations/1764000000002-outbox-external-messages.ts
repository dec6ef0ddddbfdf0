import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Messages from other systems go through the outbox too (as an inbox); they have no SKU. */
export class OutboxExternalMessages1764000000002 implements MigrationInterface {
  name = 'OutboxExternalMessages1764000000002';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE outbox ALTER COLUMN sku DROP NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM event_deliveries WHERE outbox_id IN (SELECT id FROM outbox WHERE sku IS NULL)`);
    await q.query(`DELETE FROM outbox WHERE sku IS NULL`);
    await q.query(`ALTER TABLE outbox ALTER COLUMN sku SET NOT NULL`);
  }
}
