import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * GET /allocations/{orderid} reads the allocations table itself (a legitimate read side: its rows are
 * exactly the view's), so the copy, kept in step by a projection, goes. Down rebuilds it from that table.
 */
export class DropAllocationsView1764000000004 implements MigrationInterface {
  name = 'DropAllocationsView1764000000004';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE allocations_view`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE allocations_view (
        orderid varchar(255) NOT NULL,
        sku varchar(255) NOT NULL,
        batch_reference varchar(255) NOT NULL,
        CONSTRAINT allocations_view_pkey PRIMARY KEY (orderid, sku)
      )`);
    await q.query(`INSERT INTO allocations_view (orderid, sku, batch_reference) SELECT orderid, sku, batch_reference FROM allocations`);
  }
}
