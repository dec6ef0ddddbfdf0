import type { QueryRunner } from 'typeorm';
import { ConcurrencyConflict } from '../../database/database-errors.js';
import { preparedQuery } from '../../database/prepared.js';
import type { DurableHandler } from '../../messaging/durable-handler.js';
import type { OutboxStore } from '../../messaging/outbox.store.js';
import type { DomainEvent } from '../domain/index.js';
import { Batch, OrderLine, Product } from '../domain/index.js';
import type { ProductRepository } from './unit-of-work.js';

/** A product's state as loaded, to write back only what changed. */
interface Snapshot {
  version: number;
  batches: Map<string, BatchSnapshot>;
}

interface BatchSnapshot {
  purchased: number;
  allocated: number;
  lines: Set<string>;
}

export { ConcurrencyConflict };

/**
 * How a unit of work reads: `optimistic` reads without locks, outside any transaction, and relies on the
 * version check of the single write; `locking` takes the product row with SELECT … FOR UPDATE first, so that
 * commands on one SKU take turns (used after an optimistic attempt lost a race, so progress is certain).
 */
export type ReadMode = 'optimistic' | 'locking';

export interface OutboxOptions {
  store: OutboxStore;
  requestId: string | undefined;
  leaseMs: number;
  /** Projections applied within the same write (the read model the API serves). */
  projections: readonly DurableHandler[];
}

interface ProductRow {
  version: number;
  reference: string | null;
  purchased_quantity: number | null;
  allocated_quantity: number | null;
  eta: string | null;
  orderid: string | null;
  qty: number | null;
}

/**
 * Loads a product with its batches and their allocated counters in one statement, plus only the lines an
 * operation needs (allocating never loads a batch's other lines, so it costs the same at 10 or 10,000
 * lines). Saves all of a product's changes, and its events into the outbox, as one statement guarded by
 * the version read: two commands can never both commit against the same version.
 */
export class TypeOrmProductRepository implements ProductRepository {
  private readonly snapshots = new Map<Product, Snapshot>();
  private readonly added = new Set<Product>();

  constructor(
    private readonly runner: QueryRunner,
    private readonly mode: ReadMode,
  ) {}

  async get(sku: string, options: { orderid?: string } = {}): Promise<Product | undefined> {
    if (this.mode === 'locking' && !(await this.lock(sku))) return undefined;
    // Under READ COMMITTED a statement after the lock sees what the previous holder committed; without a
    // lock, version and batches still come from one snapshot, and the write checks the version.
    const rows = await preparedQuery<ProductRow>(
      this.runner,
      `SELECT p.version, b.reference, b.purchased_quantity, b.allocated_quantity, to_char(b.eta, 'YYYY-MM-DD') AS eta,
              a.orderid, a.qty
         FROM products p
         LEFT JOIN batches b ON b.sku = p.sku
         LEFT JOIN allocations a ON a.batch_reference = b.reference AND a.orderid = $2 AND a.sku = p.sku
        WHERE p.sku = $1`,
      [sku, options.orderid ?? null],
    );
    if (rows.length === 0) return undefined;
    const batches = rows
      .filter((r) => r.reference !== null)
      .map((r) => {
        const lines = r.orderid === null ? [] : [new OrderLine(r.orderid, sku, r.qty!)];
        return new Batch(r.reference!, sku, r.purchased_quantity!, r.eta, lines, r.allocated_quantity!);
      });
    return this.track(new Product(sku, batches, rows[0].version));
  }

  async getByBatchRef(ref: string): Promise<Product | undefined> {
    const found: { sku: string }[] = await this.runner.query('SELECT sku FROM batches WHERE reference = $1', [ref]);
    if (found.length === 0) return undefined;
    const product = await this.get(found[0].sku);
    if (!product) return undefined;
    const lines: { orderid: string; qty: number }[] = await this.runner.query(
      'SELECT orderid, qty FROM allocations WHERE batch_reference = $1 ORDER BY id',
      [ref],
    );
    // Shrinking a batch deallocates its newest lines: that one batch is loaded with all of them.
    const batch = product.batch(ref)!;
    // Without a lock the lines come from a later snapshot than the counter; if another command changed
    // them in between, the two disagree: start again under the lock.
    if (lines.reduce((sum, l) => sum + l.qty, 0) !== batch.allocatedQuantity) throw new ConcurrencyConflict(product.sku);
    const full = new Batch(ref, batch.sku, batch.purchasedQuantity, batch.eta, lines.map((l) => new OrderLine(l.orderid, batch.sku, l.qty)), batch.allocatedQuantity);
    const reloaded = new Product(product.sku, product.batches.map((b) => (b.reference === ref ? full : b)), product.version);
    this.snapshots.delete(product);
    return this.track(reloaded);
  }

  async batchExists(ref: string): Promise<boolean> {
    const rows: unknown[] = await this.runner.query('SELECT 1 FROM batches WHERE reference = $1', [ref]);
    return rows.length > 0;
  }

  add(product: Product): void {
    this.added.add(product);
  }

  /** Every product this repository handed out or was given. */
  get seen(): Product[] {
    return [...this.snapshots.keys(), ...this.added];
  }

  /** Writes each product's changes and recorded events; returns the events written. */
  async save(outbox: OutboxOptions): Promise<DomainEvent[]> {
    const written: DomainEvent[] = [];
    for (const product of this.seen) {
      const events = product.events.splice(0);
      await this.write(product, this.snapshots.get(product), events, outbox);
      written.push(...events);
    }
    return written;
  }

  private async lock(sku: string): Promise<boolean> {
    const rows: unknown[] = await this.runner.query('SELECT 1 FROM products WHERE sku = $1 FOR UPDATE', [sku]);
    return rows.length > 0;
  }

  private track(product: Product): Product {
    this.snapshots.set(product, {
      version: product.version,
      batches: new Map(
        product.batches.map((b) => [
          b.reference,
          { purchased: b.purchasedQuantity, allocated: b.allocatedQuantity, lines: new Set(b.allocations.map((l) => l.orderid)) },
        ]),
      ),
    });
    return product;
  }

  /**
   * One statement: the version check (or the product's creation) as the first CTE, every other change
   * conditional on it, and the outbox rows. Zero rows from the check means another command got there first.
   */
  private async write(product: Product, before: Snapshot | undefined, events: DomainEvent[], outbox: OutboxOptions): Promise<void> {
    const params: unknown[] = [];
    const p = (value: unknown) => {
      params.push(value);
      return `$${params.length}`;
    };
    const ctes: string[] = [];
    const changed = !before || product.version !== before.version;
    if (!before) {
      ctes.push(`v AS (INSERT INTO products (sku, version) VALUES (${p(product.sku)}, ${p(product.version)}) RETURNING 1)`);
    } else if (changed) {
      ctes.push(
        `v AS (UPDATE products SET version = ${p(product.version)} WHERE sku = ${p(product.sku)} AND version = ${p(before.version)} RETURNING 1)`,
      );
    }
    const gate = 'EXISTS (SELECT 1 FROM v)';
    if (changed) {
      for (const batch of product.batches) {
        const old = before?.batches.get(batch.reference);
        const lines = new Map(batch.allocations.map((l) => [l.orderid, l]));
        if (!old) {
          ctes.push(`INSERT INTO batches (reference, sku, purchased_quantity, allocated_quantity, eta)
                     SELECT ${p(batch.reference)}, ${p(batch.sku)}, ${p(batch.purchasedQuantity)}::int, ${p(batch.allocatedQuantity)}::int, ${p(batch.eta)}::date
                      WHERE ${gate}`);
        } else if (old.purchased !== batch.purchasedQuantity || old.allocated !== batch.allocatedQuantity) {
          ctes.push(`UPDATE batches SET purchased_quantity = ${p(batch.purchasedQuantity)}, allocated_quantity = ${p(batch.allocatedQuantity)}
                      WHERE reference = ${p(batch.reference)} AND ${gate}`);
        }
        const removed = [...(old?.lines ?? [])].filter((orderid) => !lines.has(orderid));
        if (removed.length > 0) {
          ctes.push(`DELETE FROM allocations WHERE sku = ${p(batch.sku)} AND batch_reference = ${p(batch.reference)}
                      AND orderid = ANY(${p(removed)}::varchar[]) AND ${gate}`);
        }
        const added = [...lines.values()].filter((l) => !old?.lines.has(l.orderid));
        if (added.length > 0) {
          ctes.push(`INSERT INTO allocations (orderid, sku, qty, batch_reference)
                     SELECT l.orderid, ${p(batch.sku)}, l.qty, ${p(batch.reference)}
                       FROM unnest(${p(added.map((l) => l.orderid))}::varchar[], ${p(added.map((l) => l.qty))}::int[]) WITH ORDINALITY AS l(orderid, qty, n)
                      WHERE ${gate} ORDER BY l.n`);
        }
      }
    }
    const applied = events.map((event) =>
      outbox.projections.flatMap((h) => {
        const sql = h.inTransaction!(event, p, changed ? gate : undefined);
        if (sql) ctes.push(sql);
        return sql ? [h.handlerName] : [];
      }),
    );
    if (ctes.length === 0 && events.length === 0) return;
    const insert = events.length > 0 ? outbox.store.insertStatement(events, outbox.requestId, outbox.leaseMs, p, changed ? gate : undefined) : undefined;
    const [first, ...rest] = changed ? ctes : [undefined, ...ctes];
    const named = [first, ...rest.map((sql, i) => `c${i} AS (${sql})`)].filter(Boolean);
    if (insert) named.push(`o AS (${insert.sql})`);
    const sql = `WITH ${named.join(',\n')}
      SELECT ${changed ? '(SELECT count(*) FROM v)::int' : '1'} AS ok,
             ${insert ? '(SELECT array_agg(id ORDER BY id) FROM o)' : 'NULL'} AS outbox_ids`;
    const [row] = await preparedQuery<{ ok: number; outbox_ids: string[] | null }>(this.runner, sql, params);
    if (row.ok !== 1) throw new ConcurrencyConflict(product.sku);
    insert?.attach(row.outbox_ids ?? [], applied);
  }
}
