import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The dead-letter index in ascending order, so that an entity can describe it (TypeORM has no DESC index
 * columns). A B-tree is read backwards just as fast: the listing's ORDER BY updated_at DESC, id DESC still
 * uses it. event_deliveries holds failures only, so the rebuild is short.
 */
export class DeadLetterIndexAscending1764000000003 implements MigrationInterface {
  name = 'DeadLetterIndexAscending1764000000003';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX event_deliveries_dead_idx`);
    await q.query(`CREATE INDEX event_deliveries_dead_idx ON event_deliveries (updated_at, id) WHERE status = 'dead'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX event_deliveries_dead_idx`);
    await q.query(`CREATE INDEX event_deliveries_dead_idx ON event_deliveries (updated_at DESC, id DESC) WHERE status = 'dead'`);
  }
}
