import type { QueryRunner } from 'typeorm';
import { ConcurrencyConflict } from '../../database/database-errors.js';
import { preparedQuery } from '../../database/prepared.js';
import type { Origin, StoredEvent } from '../../messaging/event.js';
import { OutboxRows } from '../../messaging/outbox.store.js';
import { Batch, OrderLine, Product } from '../domain/index.js';
import { productState, productStatement, type ProductState } from './product-statement.js';
import type { ProductRepository } from './unit-of-work.js';

export { ConcurrencyConflict };

/**
 * How a unit of work reads: `optimistic` reads without locks and relies on the version check of the
 * single write; `locking` first takes the product row with SELECT … FOR UPDATE, so that commands on one
 * SKU take turns (used after an optimistic attempt lost a race, so progress is certain).
 */
export type ReadMode = 'optimistic' | 'locking';

interface Row {
  sku: string;
  version: number;
  reference: string | null;
  purchased_quantity: number | null;
  allocated_quantity: number | null;
  eta: string | null;
  orderid: string | null;
  qty: number | null;
}

const COLUMNS = `p.sku, p.version, b.reference, b.purchased_quantity, b.allocated_quantity, to_char(b.eta, 'YYYY-MM-DD') AS eta, a.orderid, a.qty`;

/**
 * A product is loaded with the part of it an operation can touch, never its whole history of batches (a
 * SKU keeps every batch it ever had, most of them used up long ago). This part is enough because:
 * - allocating (and reallocating) a line picks a batch that can take it: its available quantity is at least
 *   the line's, which is at least 1, so a batch with no room cannot win; among those with room the choice
 *   (no ETA first, then the earliest, then the reference) does not depend on which others are loaded;
 * - a line already allocated (a retry, a cancel) is found in its own batch, loaded with it;
 * - shrinking touches one batch (BY_BATCH): the lines it can no longer hold are reallocated afterwards by
 *   their own Reallocate, which loads the batches with room;
 * - adding a batch needs none: a duplicate reference is found by `batchExists` (references are unique
 *   across SKUs), and the version check covers the product as a whole whatever part was loaded.
 * test/unit/product.spec.ts checks that the domain decides the same on this part as on the whole.
 *
 * BY_SKU: the product, its batches with room (a partial index holds exactly those) and the batches of the
 * given orders' lines, with those lines only, never a batch's other lines: it costs the same with 2 or
 * 10,000 batches and 10 or 10,000 lines. The lines are looked up on their own (MATERIALIZED) by their key
 * (orderid, sku): joined to the batches, a cached plan may instead walk every line of a batch whose size it
 * underestimated.
 */
const BY_SKU = `WITH line AS MATERIALIZED (SELECT batch_reference, orderid, qty FROM allocations WHERE orderid = ANY($2::varchar[]) AND sku = $1),
batch AS (
  SELECT reference, purchased_quantity, allocated_quantity, eta FROM batches WHERE sku = $1 AND purchased_quantity > allocated_quantity
  UNION
  SELECT reference, purchased_quantity, allocated_quantity, eta FROM batches WHERE reference IN (SELECT batch_reference FROM line))
SELECT ${COLUMNS}
  FROM products p
  LEFT JOIN batch b ON true
  LEFT JOIN line a ON a.batch_reference = b.reference
 WHERE p.sku = $1`;

/** BY_BATCH: the product and that one batch, with every line it holds (in allocation order). */
const BY_BATCH = `SELECT ${COLUMNS}
  FROM batches b
  JOIN products p ON p.sku = b.sku
  LEFT JOIN allocations a ON a.batch_reference = b.reference
 WHERE b.reference = $1
 ORDER BY a.id`;

// Taken before the read, in a statement of its own: a read that waited on the lock would see the other
// tables as they were before the wait (READ COMMITTED re-checks only the locked row).
const LOCK_BY_SKU = 'SELECT 1 FROM products WHERE sku = $1 FOR UPDATE';
const LOCK_BY_BATCH = 'SELECT 1 FROM products p JOIN batches b ON b.sku = p.sku WHERE b.reference = $1 FOR UPDATE OF p';

export interface SaveOptions {
  /** The request and trace that recorded the events. */
  origin: Origin;
  leaseMs: number;
}

/** The handler that reallocates deallocated lines (ReallocationSaga's handlerName). */
const REALLOCATION_HANDLER = 'ReallocationSaga';

/** Loads products in one statement each and saves each in one statement (product-statement.ts). */
export class TypeOrmProductRepository implements ProductRepository {
  /** Each product handed out or added, with its state as loaded (none: new). */
  private readonly loaded = new Map<Product, ProductState | undefined>();

  constructor(
    private readonly runner: QueryRunner,
    private readonly mode: ReadMode,
  ) {}

  get(sku: string, options: { orderids?: readonly string[] } = {}): Promise<Product | undefined> {
    return this.load({ sku, orderids: options.orderids ?? [] });
  }

  getByBatchRef(ref: string): Promise<Product | undefined> {
    return this.load({ batchref: ref });
  }

  async batchExists(ref: string): Promise<boolean> {
    const rows: unknown[] = await this.runner.query('SELECT 1 FROM batches WHERE reference = $1', [ref]);
    return rows.length > 0;
  }

  add(product: Product): void {
    this.loaded.set(product, undefined);
  }

  async awaitingReallocation(sku: string, orderid: string): Promise<boolean> {
    // Its Deallocated event not yet handed to the saga, or the saga's delivery failed and will be retried.
    // Both sets are small and indexed (undispatched events; deliveries retrying).
    const [row]: { pending: boolean }[] = await this.runner.query(
      `SELECT EXISTS (SELECT 1 FROM outbox o
                       WHERE o.dispatched_at IS NULL AND o.sku = $1 AND o.name = 'Deallocated' AND o.payload->>'orderid' = $2)
           OR EXISTS (SELECT 1 FROM event_deliveries d JOIN outbox o ON o.id = d.outbox_id
                       WHERE d.status = 'retrying' AND d.handler = $3 AND o.sku = $1 AND o.name = 'Deallocated' AND o.payload->>'orderid' = $2)
           AS pending`,
      [sku, orderid, REALLOCATION_HANDLER],
    );
    return row.pending;
  }

  /** Writes each product's changes and the events it recorded; returns the events as stored in the outbox. */
  async save(options: SaveOptions): Promise<StoredEvent[]> {
    const stored: StoredEvent[] = [];
    for (const [product, before] of this.loaded) {
      const events = new OutboxRows(product.events.splice(0), options.origin);
      const statement = productStatement(before, productState(product), events, options.leaseMs);
      if (!statement) continue;
      const [row] = await preparedQuery<{ ok: number; outbox_ids: string[] | null }>(this.runner, statement.text, statement.values);
      if (row.ok !== 1) throw new ConcurrencyConflict(product.sku);
      stored.push(...events.stored(row.outbox_ids ?? []));
    }
    return stored;
  }

  private async load(key: { sku: string; orderids: readonly string[] } | { batchref: string }): Promise<Product | undefined> {
    const bySku = 'sku' in key;
    if (this.mode === 'locking') {
      const locked: unknown[] = await this.runner.query(bySku ? LOCK_BY_SKU : LOCK_BY_BATCH, [bySku ? key.sku : key.batchref]);
      if (locked.length === 0) return undefined;
    }
    const rows = bySku
      ? await preparedQuery<Row>(this.runner, BY_SKU, [key.sku, key.orderids])
      : await preparedQuery<Row>(this.runner, BY_BATCH, [key.batchref]);
    if (rows.length === 0) return undefined;
    const product = toProduct(rows);
    this.loaded.set(product, productState(product));
    return product;
  }
}

/** One row per batch (and per loaded line of it), lines in allocation order. */
function toProduct(rows: Row[]): Product {
  const { sku, version } = rows[0];
  const batches = new Map<string, { row: Row; lines: OrderLine[] }>();
  for (const row of rows) {
    if (row.reference === null) continue;
    const entry = batches.get(row.reference) ?? { row, lines: [] };
    if (row.orderid !== null) entry.lines.push(new OrderLine(row.orderid, sku, row.qty!));
    batches.set(row.reference, entry);
  }
  return new Product(
    sku,
    [...batches.values()].map(({ row, lines }) => new Batch(row.reference!, sku, row.purchased_quantity!, row.eta, lines, row.allocated_quantity!)),
    version,
  );
}
