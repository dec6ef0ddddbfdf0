import type { UnitStatements } from '../../database/unit-statements.js';
import type { Origin, StoredEvent } from '../../messaging/event.js';
import { OutboxRows } from '../../messaging/outbox.store.js';
import { Batch, type DomainEvent, OrderLine, Product } from '../domain/index.js';
import { productState, productStatement, type ProductState } from './product-statement.js';
import type { ProductRepository } from './unit-of-work.js';

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
 * BY_SKU: the products of the given SKUs, each with its batches with room (a partial index holds exactly
 * those) and the batches of the given orders' lines, with those lines only, never a batch's other lines:
 * it costs the same with 2 or 10,000 batches and 10 or 10,000 lines. The lines are looked up on their own
 * (MATERIALIZED) by their key (orderid, sku): joined to the batches, a cached plan may instead walk every
 * line of a batch whose size it underestimated. (Orders and SKUs are matched as two lists, so an order of
 * one SKU may bring its line of another SKU of the list too: a real line of a loaded batch, harmless.)
 */
const BY_SKU = `WITH line AS MATERIALIZED (SELECT batch_reference, orderid, qty FROM allocations WHERE orderid = ANY($2::varchar[]) AND sku = ANY($1::varchar[])),
batch AS (
  SELECT sku, reference, purchased_quantity, allocated_quantity, eta FROM batches WHERE sku = ANY($1::varchar[]) AND purchased_quantity > allocated_quantity
  UNION
  SELECT sku, reference, purchased_quantity, allocated_quantity, eta FROM batches WHERE reference IN (SELECT batch_reference FROM line))
SELECT ${COLUMNS}
  FROM products p
  LEFT JOIN batch b ON b.sku = p.sku
  LEFT JOIN line a ON a.batch_reference = b.reference
 WHERE p.sku = ANY($1::varchar[])`;

/** BY_BATCH: the product and that one batch, with every line it holds (in allocation order). */
const BY_BATCH = `SELECT ${COLUMNS}
  FROM batches b
  JOIN products p ON p.sku = b.sku
  LEFT JOIN allocations a ON a.batch_reference = b.reference
 WHERE b.reference = $1
 ORDER BY a.id`;

// Taken before the read, in a statement of its own: a read that waited on the lock would see the other
// tables as they were before the wait (READ COMMITTED re-checks only the locked row).
// Several products are locked in the order of the list, sorted by bySku as the write statement takes them
// (save()), so that two units of work cannot deadlock; not by SQL's ORDER BY sku, whose collation may differ.
const LOCK_BY_SKU = `SELECT 1 FROM products p JOIN unnest($1::varchar[]) WITH ORDINALITY AS k(sku, n) ON p.sku = k.sku
  ORDER BY k.n FOR UPDATE OF p`;

/** The one order in which a unit of work locks and writes several products. */
const bySku = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const LOCK_BY_BATCH = 'SELECT 1 FROM products p JOIN batches b ON b.sku = p.sku WHERE b.reference = $1 FOR UPDATE OF p';

export interface SaveOptions {
  /** The request and trace that recorded the events (unless recorded on behalf of another: onBehalfOf). */
  origin: Origin;
  leaseMs: number;
}

/** The handler that reallocates deallocated lines (ReallocationSaga's handlerName). */
const REALLOCATION_HANDLER = 'ReallocationSaga';

/** Loads products in one statement per read, and saves all a unit of work changed in one statement (product-statement.ts). */
export class TypeOrmProductRepository implements ProductRepository {
  /** Each product handed out or added, with its state as loaded (none: new). */
  private readonly loaded = new Map<Product, ProductState | undefined>();
  /** Events recorded on behalf of a request other than the unit's own. */
  private readonly origins = new Map<DomainEvent, Origin>();

  constructor(
    private readonly sql: UnitStatements,
    private readonly mode: ReadMode,
  ) {}

  async get(sku: string, options: { orderids?: readonly string[] } = {}): Promise<Product | undefined> {
    return (await this.getMany([sku], options.orderids ?? [])).get(sku);
  }

  async getMany(skus: readonly string[], orderids: readonly string[] | (() => readonly string[])): Promise<Map<string, Product>> {
    const distinct = [...new Set(skus)].sort(bySku);
    if (this.mode === 'locking') await this.sql.send({ text: LOCK_BY_SKU, values: [distinct] });
    const orders = typeof orderids === 'function' ? orderids() : orderids;
    const [rows] = await this.sql.send<Row>({ text: BY_SKU, values: [distinct, [...new Set(orders)]] });
    const products = new Map<string, Product>();
    for (const product of toProducts(rows)) {
      this.loaded.set(product, productState(product));
      products.set(product.sku, product);
    }
    return products;
  }

  getByBatchRef(ref: string): Promise<Product | undefined> {
    return this.load(ref);
  }

  async batchExists(ref: string): Promise<boolean> {
    const [rows] = await this.sql.send({ text: 'SELECT 1 FROM batches WHERE reference = $1', values: [ref] });
    return rows.length > 0;
  }

  add(product: Product): void {
    this.loaded.set(product, undefined);
  }

  async awaitingReallocation(sku: string, orderid: string): Promise<boolean> {
    // Its Deallocated event not yet handed to the saga, or the saga's delivery failed and will be retried.
    // Both sets are small and indexed (undispatched events; deliveries retrying).
    const [[row]] = await this.sql.send<{ pending: boolean }>({
      text: `SELECT EXISTS (SELECT 1 FROM outbox o
                       WHERE o.dispatched_at IS NULL AND o.sku = $1 AND o.name = 'Deallocated' AND o.payload->>'orderid' = $2)
           OR EXISTS (SELECT 1 FROM event_deliveries d JOIN outbox o ON o.id = d.outbox_id
                       WHERE d.status = 'retrying' AND d.handler = $3 AND o.sku = $1 AND o.name = 'Deallocated' AND o.payload->>'orderid' = $2)
           AS pending`,
      values: [sku, orderid, REALLOCATION_HANDLER],
    });
    return row.pending;
  }

  onBehalfOf<T>(origin: Origin, decide: () => T): T {
    const recorded = new Map([...this.loaded.keys()].map((p) => [p, p.events.length]));
    try {
      return decide();
    } finally {
      for (const [product, before] of recorded) for (const event of product.events.slice(before)) this.origins.set(event, origin);
    }
  }

  /**
   * Writes every product's changes and the events they recorded, in one statement (a lost race on any
   * product fails it whole), with the COMMIT of a locking unit; returns the events as stored in the outbox.
   */
  async save(options: SaveOptions): Promise<StoredEvent[]> {
    // By SKU: the statement then locks the product rows in the order every unit of work locks them.
    const changes = [...this.loaded].map(([product, before]) => ({ before, after: productState(product) })).sort((x, y) => bySku(x.after.sku, y.after.sku));
    const recorded = [...this.loaded.keys()].flatMap((product) => product.events.splice(0));
    const events = new OutboxRows(recorded, recorded.map((e) => this.origins.get(e) ?? options.origin));
    const statement = productStatement(changes, events, options.leaseMs);
    const [row] = await this.sql.sendLast<{ outbox_ids: string[] | null }>(statement);
    return statement ? events.stored(row.outbox_ids ?? []) : [];
  }

  private async load(batchref: string): Promise<Product | undefined> {
    const read = { text: BY_BATCH, values: [batchref] };
    // Locking: the read is sent with the lock (no work joins in between here); it runs once the lock is
    // taken, in a snapshot of its own, so it sees what the holder committed.
    if (this.mode === 'locking') {
      const [locked, rows] = await this.sql.send<Row>({ text: LOCK_BY_BATCH, values: [batchref] }, read);
      // No product was locked: the batch did not exist then (one created since is for another attempt to find).
      return locked.length === 0 ? undefined : this.loadedProduct(rows);
    }
    return this.loadedProduct((await this.sql.send<Row>(read))[0]);
  }

  private loadedProduct(rows: Row[]): Product | undefined {
    const [product] = toProducts(rows);
    if (product) this.loaded.set(product, productState(product));
    return product;
  }
}

/** Rows of one or more products: one per batch (and per loaded line of it), lines in allocation order. */
function toProducts(rows: Row[]): Product[] {
  const products = new Map<string, { sku: string; version: number; batches: Map<string, { row: Row; lines: OrderLine[] }> }>();
  for (const row of rows) {
    const product = products.get(row.sku) ?? { sku: row.sku, version: row.version, batches: new Map() };
    products.set(row.sku, product);
    const { sku } = product;
    if (row.reference === null) continue;
    const entry = product.batches.get(row.reference) ?? { row, lines: [] };
    // The product's SKU, not the row's: one string for all its lines rather than a copy per row.
    if (row.orderid !== null) entry.lines.push(new OrderLine(row.orderid, sku, row.qty!));
    product.batches.set(row.reference, entry);
  }
  return [...products.values()].map(
    ({ sku, version, batches }) =>
      new Product(
        sku,
        [...batches.values()].map(({ row, lines }) => new Batch(row.reference!, sku, row.purchased_quantity!, row.eta, lines, row.allocated_quantity!)),
        version,
      ),
  );
}
