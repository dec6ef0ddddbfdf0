import { outboxInsert, type OutboxRows } from '../../messaging/outbox.store.js';
import type { Product } from '../domain/index.js';

/** A product as the repository loaded it, or as a command left it: plain data, easy to compare. */
export interface ProductState {
  sku: string;
  version: number;
  batches: BatchState[];
}

export interface BatchState {
  reference: string;
  purchased: number;
  allocated: number;
  eta: string | null;
  /** The lines loaded with the batch (not necessarily all it holds), oldest first. */
  lines: { orderid: string; qty: number }[];
}

export interface Statement {
  text: string;
  values: unknown[];
}

export function productState(product: Product): ProductState {
  return {
    sku: product.sku,
    version: product.version,
    batches: product.batches.map((b) => ({
      reference: b.reference,
      purchased: b.purchasedQuantity,
      allocated: b.allocatedQuantity,
      eta: b.eta,
      lines: b.allocations.map((l) => ({ orderid: l.orderid, qty: l.qty })),
    })),
  };
}

/** One product of a unit of work: as loaded (undefined: new) and as the commands left it. */
export interface ProductChange {
  before: ProductState | undefined;
  after: ProductState;
}

/**
 * The one statement that saves what a unit of work changed in its products, with their events, from each
 * product's state before (undefined: a new product) and after: pure, so it is tested without a database.
 *
 * The version check: each changed product is updated `WHERE version = <before>` (CTE `v`), a new one is
 * inserted; the statement fails with SQLSTATE 40001, as a lost race, unless every check passed
 * (allocation_versions_checked), and a statement that fails leaves nothing behind, so a unit of work
 * commits all its products or none, and two can never both commit against one version. Each list (new
 * batches, changed counters, removed and added lines, events) travels as arrays, one parameter per column,
 * so neither the text nor the number of parameters grows with the data: a batch of 50,000 lines is shrunk,
 * and 60 allocations on 60 SKUs are saved, with the same text as one line. Only the kinds of change present
 * appear in the text (an empty CTE still costs PostgreSQL time on every allocation), with a plain statement
 * by key where there is one row (cheaper than a join), so there are a few dozen texts at most, each a named
 * prepared statement.
 */
export function productStatement(products: readonly ProductChange[], events: OutboxRows, leaseMs: number): Statement | undefined {
  const sql = new Parameters();
  const changed = products.filter((p) => p.before?.version !== p.after.version);
  if (changed.length === 0) {
    // Nothing changed (out of stock, an idempotent retry): only the events, if any, are written.
    if (events.events.length === 0) return undefined;
    return { text: `WITH o AS (${outbox(sql, events, leaseMs)})\nSELECT (SELECT array_agg(id ORDER BY id) FROM o) AS outbox_ids`, values: sql.values };
  }

  // One product twice would be updated once and fail the count forever: a bug to see at once.
  if (new Set(products.map((p) => p.after.sku)).size !== products.length) throw new Error('a unit of work saves each product once');
  const checked = changed.filter((p) => p.before !== undefined);
  const created = changed.filter((p) => p.before === undefined);
  const newBatches: (BatchState & { sku: string })[] = [];
  const changedBatches: BatchState[] = [];
  const removedLines: { orderid: string; sku: string; batch: string }[] = [];
  const addedLines: { orderid: string; sku: string; qty: number; batch: string }[] = [];
  for (const { before, after } of changed) {
    const old = new Map((before?.batches ?? []).map((b) => [b.reference, b]));
    for (const batch of after.batches) {
      const o = old.get(batch.reference);
      if (!o) newBatches.push({ ...batch, sku: after.sku });
      else if (o.purchased !== batch.purchased || o.allocated !== batch.allocated) changedBatches.push(batch);
      const had = new Set(o?.lines.map((l) => l.orderid));
      const has = new Set(batch.lines.map((l) => l.orderid));
      for (const orderid of had) if (!has.has(orderid)) removedLines.push({ orderid, sku: after.sku, batch: batch.reference });
      for (const line of batch.lines) if (!had.has(line.orderid)) addedLines.push({ ...line, sku: after.sku, batch: batch.reference });
    }
  }

  const ctes: string[] = [];
  if (checked.length === 1) {
    const [{ before, after }] = checked;
    ctes.push(`v AS (UPDATE products SET version = ${sql.add(after.version)}::int WHERE sku = ${sql.add(after.sku)}::varchar AND version = ${sql.add(before!.version)}::int RETURNING 1)`);
  } else if (checked.length > 1) {
    ctes.push(`v AS (
      UPDATE products p SET version = c.after
        FROM unnest(${sql.add(checked.map((p) => p.after.sku))}::varchar[], ${sql.add(checked.map((p) => p.before!.version))}::int[],
                    ${sql.add(checked.map((p) => p.after.version))}::int[]) AS c(sku, before, after)
       WHERE p.sku = c.sku AND p.version = c.before
      RETURNING 1)`);
  }
  if (created.length > 0) {
    // A product created meanwhile by another command makes this fail on the primary key: a lost race too.
    ctes.push(`new_products AS (
      INSERT INTO products (sku, version)
      SELECT * FROM unnest(${sql.add(created.map((p) => p.after.sku))}::varchar[], ${sql.add(created.map((p) => p.after.version))}::int[]))`);
  }
  if (newBatches.length > 0) {
    ctes.push(`new_batches AS (
      INSERT INTO batches (reference, sku, purchased_quantity, allocated_quantity, eta)
      SELECT * FROM unnest(${sql.add(newBatches.map((b) => b.reference))}::varchar[], ${sql.add(newBatches.map((b) => b.sku))}::varchar[],
                           ${sql.add(newBatches.map((b) => b.purchased))}::int[], ${sql.add(newBatches.map((b) => b.allocated))}::int[],
                           ${sql.add(newBatches.map((b) => b.eta))}::date[]))`);
  }
  if (changedBatches.length === 1) {
    // The usual case (allocations on one SKU): a plain UPDATE by key, which PostgreSQL runs faster than a join.
    const [batch] = changedBatches;
    ctes.push(`changed_batches AS (
      UPDATE batches SET purchased_quantity = ${sql.add(batch.purchased)}::int, allocated_quantity = ${sql.add(batch.allocated)}::int
       WHERE reference = ${sql.add(batch.reference)}::varchar)`);
  } else if (changedBatches.length > 1) {
    ctes.push(`changed_batches AS (
      UPDATE batches SET purchased_quantity = c.purchased, allocated_quantity = c.allocated
        FROM unnest(${sql.add(changedBatches.map((b) => b.reference))}::varchar[], ${sql.add(changedBatches.map((b) => b.purchased))}::int[],
                    ${sql.add(changedBatches.map((b) => b.allocated))}::int[]) AS c(reference, purchased, allocated)
       WHERE batches.reference = c.reference)`);
  }
  if (removedLines.length > 0) {
    ctes.push(`removed_lines AS (
      DELETE FROM allocations a
       USING unnest(${sql.add(removedLines.map((l) => l.orderid))}::varchar[], ${sql.add(removedLines.map((l) => l.sku))}::varchar[],
                    ${sql.add(removedLines.map((l) => l.batch))}::varchar[]) AS r(orderid, sku, batch_reference)
       WHERE a.orderid = r.orderid AND a.sku = r.sku AND a.batch_reference = r.batch_reference)`);
  }
  if (addedLines.length > 0) {
    // In allocation order (ids ascending): a shrink deallocates the most recent lines first.
    ctes.push(`added_lines AS (
      INSERT INTO allocations (orderid, sku, qty, batch_reference)
      SELECT l.orderid, l.sku, l.qty, l.batch_reference
        FROM unnest(${sql.add(addedLines.map((l) => l.orderid))}::varchar[], ${sql.add(addedLines.map((l) => l.sku))}::varchar[],
                    ${sql.add(addedLines.map((l) => l.qty))}::int[], ${sql.add(addedLines.map((l) => l.batch))}::varchar[])
             WITH ORDINALITY AS l(orderid, sku, qty, batch_reference, n)
       ORDER BY l.n)`);
  }
  if (events.events.length > 0) ctes.push(`o AS (${outbox(sql, events, leaseMs)})`);
  // The check is a column of the result, so that it runs; it raises rather than returning false.
  const check = checked.length > 0 ? `allocation_versions_checked((SELECT count(*) FROM v), ${sql.add(checked.length)}::int) AS checked, ` : '';
  const ids = events.events.length > 0 ? '(SELECT array_agg(id ORDER BY id) FROM o)' : 'NULL::bigint[]';
  return { text: `WITH ${ctes.join(',\n')}\nSELECT ${check}${ids} AS outbox_ids`, values: sql.values };
}

function outbox(sql: Parameters, events: OutboxRows, leaseMs: number): string {
  return outboxInsert({
    eventIds: sql.add(events.eventIds),
    names: sql.add(events.names),
    skus: sql.add(events.skus),
    payloads: sql.add(events.payloads),
    originIndexes: sql.add(events.originIndexes),
    requestIds: sql.add(events.requestIds),
    traceparents: sql.add(events.traceparents),
    leaseMs: sql.add(leaseMs),
  });
}

/** Bind parameters in order: `add` keeps a value and returns its placeholder. */
class Parameters {
  readonly values: unknown[] = [];

  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}
