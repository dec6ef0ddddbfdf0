import type { MigrationInterface, QueryRunner } from 'typeorm';

export class InitialSchema1764000000000 implements MigrationInterface {
  name = 'InitialSchema1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE products (
        sku varchar(255) PRIMARY KEY,
        version integer NOT NULL DEFAULT 0
      )`);
    // The CHECK is the last line of defence against over-allocation: no bug above can commit it.
    await q.query(`
      CREATE TABLE batches (
        reference varchar(255) PRIMARY KEY,
        sku varchar(255) NOT NULL REFERENCES products (sku),
        purchased_quantity integer NOT NULL CHECK (purchased_quantity >= 0),
        allocated_quantity integer NOT NULL DEFAULT 0,
        eta date,
        CONSTRAINT batches_allocation_fits CHECK (allocated_quantity BETWEEN 0 AND purchased_quantity)
      )`);
    await q.query(`CREATE INDEX batches_sku_idx ON batches (sku)`);
    await q.query(`
      CREATE TABLE allocations (
        id bigserial PRIMARY KEY,
        orderid varchar(255) NOT NULL,
        sku varchar(255) NOT NULL,
        qty integer NOT NULL CHECK (qty > 0),
        batch_reference varchar(255) NOT NULL REFERENCES batches (reference)
      )`);
    await q.query(`CREATE UNIQUE INDEX allocations_line_key ON allocations (orderid, sku)`);
    await q.query(`CREATE INDEX allocations_batch_idx ON allocations (batch_reference, id)`);
    await q.query(`
      CREATE TABLE allocations_view (
        orderid varchar(255) NOT NULL,
        sku varchar(255) NOT NULL,
        batch_reference varchar(255) NOT NULL,
        PRIMARY KEY (orderid, sku)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE allocations_view`);
    await q.query(`DROP TABLE allocations`);
    await q.query(`DROP TABLE batches`);
    await q.query(`DROP TABLE products`);
  }
}
