import type { QueryRunner } from 'typeorm';
import { Batch, OrderLine, Product } from '../domain/index.js';
import type { ProductRepository } from './unit-of-work.js';

/** A product's state as loaded, to write back only what changed. */
interface Snapshot {
  version: number;
  batches: Map<string, { purchased: number; allocated: number; lines: Map<string, number> }>;
}

/** Another command changed the product between our read and our write. */
export class ConcurrencyConflict extends Error {
  constructor(sku: string) {
    super(`product ${sku} was changed concurrently`);
    this.name = 'ConcurrencyConflict';
  }
}

interface BatchRow {
  reference: string;
  purchased_quantity: number;
  allocated_quantity: number;
  eta: string | null;
}

/**
 * Loads products with `SELECT … FOR UPDATE` on the product row, so commands on one SKU take turns, and
 * reads only the lines an operation needs: allocating never loads a batch's other lines.
 */
export class TypeOrmProductRepository implements ProductRepository {
  private readonly snapshots = new Map<Product, Snapshot>();
  private readonly added = new Set<Product>();

  constructor(private readonly runner: QueryRunner) {}

  /** Every product this repository handed out or was given. */
  get seen(): Product[] {
    return [...this.snapshots.keys(), ...this.added];
  }

  async get(sku: string, options: { orderid?: string } = {}): Promise<Product | undefined> {
    const version = await this.lock(sku);
    if (version === undefined) return undefined;
    // A statement after the lock, so that under READ COMMITTED it sees what the previous holder committed.
    const rows: (BatchRow & { orderid: string | null; qty: number | null })[] = await this.runner.query(
      `SELECT b.reference, b.purchased_quantity, b.allocated_quantity, to_char(b.eta, 'YYYY-MM-DD') AS eta,
              a.orderid, a.qty
         FROM batches b
         LEFT JOIN allocations a ON a.batch_reference = b.reference AND a.orderid = $2 AND a.sku = b.sku
        WHERE b.sku = $1`,
      [sku, options.orderid ?? null],
    );
    const batches = rows.map((r) => {
      const lines = r.orderid === null ? [] : [new OrderLine(r.orderid, sku, r.qty!)];
      return new Batch(r.reference, sku, r.purchased_quantity, r.eta, lines, r.allocated_quantity);
    });
    return this.track(new Product(sku, batches, version));
  }

  async getByBatchRef(ref: string): Promise<Product | undefined> {
    const found: { sku: string }[] = await this.runner.query('SELECT sku FROM batches WHERE reference = $1', [ref]);
    if (found.length === 0) return undefined;
    const sku = found[0].sku;
    const version = await this.lock(sku);
    if (version === undefined) return undefined;
    const rows: BatchRow[] = await this.runner.query(
      `SELECT reference, purchased_quantity, allocated_quantity, to_char(eta, 'YYYY-MM-DD') AS eta
         FROM batches WHERE sku = $1`,
      [sku],
    );
    const lines: { orderid: string; qty: number }[] = await this.runner.query(
      'SELECT orderid, qty FROM allocations WHERE batch_reference = $1 ORDER BY id',
      [ref],
    );
    const batches = rows.map((r) => {
      const own = r.reference === ref ? lines.map((l) => new OrderLine(l.orderid, sku, l.qty)) : [];
      return new Batch(r.reference, sku, r.purchased_quantity, r.eta, own, r.allocated_quantity);
    });
    return this.track(new Product(sku, batches, version));
  }

  async batchExists(ref: string): Promise<boolean> {
    const rows: unknown[] = await this.runner.query('SELECT 1 FROM batches WHERE reference = $1', [ref]);
    return rows.length > 0;
  }

  add(product: Product): void {
    this.added.add(product);
  }

  /** Writes every change of the products seen: version, batches, allocated lines. */
  async save(): Promise<void> {
    for (const product of this.added) await this.insert(product);
    for (const [product, before] of this.snapshots) await this.update(product, before);
  }

  private async lock(sku: string): Promise<number | undefined> {
    const rows: { version: number }[] = await this.runner.query(
      'SELECT version FROM products WHERE sku = $1 FOR UPDATE',
      [sku],
    );
    return rows[0]?.version;
  }

  private track(product: Product): Product {
    this.snapshots.set(product, {
      version: product.version,
      batches: new Map(
        product.batches.map((b) => [
          b.reference,
          {
            purchased: b.purchasedQuantity,
            allocated: b.allocatedQuantity,
            lines: new Map(b.allocations.map((l) => [l.orderid, l.qty])),
          },
        ]),
      ),
    });
    return product;
  }

  private async insert(product: Product): Promise<void> {
    await this.runner.query('INSERT INTO products (sku, version) VALUES ($1, $2)', [product.sku, product.version]);
    for (const batch of product.batches) await this.writeBatch(batch, undefined);
  }

  private async update(product: Product, before: Snapshot): Promise<void> {
    if (product.version !== before.version) {
      const result = await this.runner.query(
        'UPDATE products SET version = $1 WHERE sku = $2 AND version = $3',
        [product.version, product.sku, before.version],
        true,
      );
      if (result.affected !== 1) throw new ConcurrencyConflict(product.sku);
    }
    for (const batch of product.batches) await this.writeBatch(batch, before.batches.get(batch.reference));
  }

  private async writeBatch(batch: Batch, before: Snapshot['batches'] extends Map<string, infer V> ? V | undefined : never) {
    const lines = new Map(batch.allocations.map((l) => [l.orderid, l]));
    if (!before) {
      await this.runner.query(
        `INSERT INTO batches (reference, sku, purchased_quantity, allocated_quantity, eta) VALUES ($1, $2, $3, $4, $5)`,
        [batch.reference, batch.sku, batch.purchasedQuantity, batch.allocatedQuantity, batch.eta],
      );
    } else {
      for (const orderid of before.lines.keys()) {
        if (!lines.has(orderid)) {
          await this.runner.query(
            'DELETE FROM allocations WHERE orderid = $1 AND sku = $2 AND batch_reference = $3',
            [orderid, batch.sku, batch.reference],
          );
        }
      }
      if (before.purchased !== batch.purchasedQuantity || before.allocated !== batch.allocatedQuantity) {
        await this.runner.query(
          'UPDATE batches SET purchased_quantity = $2, allocated_quantity = $3 WHERE reference = $1',
          [batch.reference, batch.purchasedQuantity, batch.allocatedQuantity],
        );
      }
    }
    for (const line of lines.values()) {
      if (before?.lines.has(line.orderid)) continue;
      await this.runner.query(
        'INSERT INTO allocations (orderid, sku, qty, batch_reference) VALUES ($1, $2, $3, $4)',
        [line.orderid, line.sku, line.qty, batch.reference],
      );
    }
  }
}
