import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The batches of a SKU that still have room: an allocation loads only those (and the batches of the
 * order's own lines), so its cost does not grow with the SKU's history of used-up batches.
 */
export class BatchesWithRoom1764000000008 implements MigrationInterface {
  name = 'BatchesWithRoom1764000000008';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX batches_with_room_idx ON batches (sku) WHERE purchased_quantity > allocated_quantity`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX batches_with_room_idx`);
  }
}
