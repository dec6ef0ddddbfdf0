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

/**
 * The one statement that saves what a command changed in a product, with its events, from the product's
 * state before (undefined: a new product) and after: pure, so it is tested without a database.
 *
 * The version check comes first (CTE `v`: update `WHERE version = <before>`, or insert a new product); every
 * other change runs only if it passed, so two commands can never both commit against one version, and
 * zero rows from `v` means another command got there first. Each list (new batches, changed counters,
 * removed and added lines, events) travels as arrays, one parameter per column, so neither the text nor
 * the number of parameters grows with the data: a batch of 50,000 lines is shrunk with the same text as
 * one line. Only the kinds of change present appear in the text (an empty CTE still costs PostgreSQL
 * time on every allocation), so there are a few dozen texts at most, each a named prepared statement.
 */
export function productStatement(before: ProductState | undefined, after: ProductState, events: OutboxRows, leaseMs: number): Statement | undefined {
  const sql = new Parameters();
  const outbox = (where?: string) =>
    outboxInsert(
      {
        eventIds: sql.add(events.eventIds),
        names: sql.add(events.names),
        skus: sql.add(events.skus),
        payloads: sql.add(events.payloads),
        requestId: sql.add(events.origin.requestId ?? null),
        traceparent: sql.add(events.origin.traceparent ?? null),
        leaseMs: sql.add(leaseMs),
      },
      where,
    );

  if (before && before.version === after.version) {
    // Nothing changed (out of stock, an idempotent retry): only the events, if any, are written.
    if (events.events.length === 0) return undefined;
    return { text: `WITH o AS (${outbox()})\nSELECT 1 AS ok, (SELECT array_agg(id ORDER BY id) FROM o) AS outbox_ids`, values: sql.values };
  }

  const old = new Map((before?.batches ?? []).map((b) => [b.reference, b]));
  const added = after.batches.filter((b) => !old.has(b.reference));
  const changed = after.batches.filter((b) => {
    const o = old.get(b.reference);
    return o !== undefined && (o.purchased !== b.purchased || o.allocated !== b.allocated);
  });
  const removedLines: { orderid: string; batch: string }[] = [];
  const addedLines: { orderid: string; qty: number; batch: string }[] = [];
  for (const batch of after.batches) {
    const had = new Set(old.get(batch.reference)?.lines.map((l) => l.orderid));
    const has = new Set(batch.lines.map((l) => l.orderid));
    for (const orderid of had) if (!has.has(orderid)) removedLines.push({ orderid, batch: batch.reference });
    for (const line of batch.lines) if (!had.has(line.orderid)) addedLines.push({ ...line, batch: batch.reference });
  }

  const sku = sql.add(after.sku);
  const version = sql.add(after.version);
  const ctes = [
    before
      ? `v AS (UPDATE products SET version = ${version}::int WHERE sku = ${sku}::varchar AND version = ${sql.add(before.version)}::int RETURNING 1)`
      : `v AS (INSERT INTO products (sku, version) VALUES (${sku}::varchar, ${version}::int) RETURNING 1)`,
  ];
  if (added.length > 0) {
    ctes.push(`new_batches AS (
      INSERT INTO batches (reference, sku, purchased_quantity, allocated_quantity, eta)
      SELECT b.reference, ${sku}::varchar, b.purchased, b.allocated, b.eta
        FROM unnest(${sql.add(added.map((b) => b.reference))}::varchar[], ${sql.add(added.map((b) => b.purchased))}::int[],
                    ${sql.add(added.map((b) => b.allocated))}::int[], ${sql.add(added.map((b) => b.eta))}::date[]) AS b(reference, purchased, allocated, eta)
       WHERE ${PASSED})`);
  }
  if (changed.length === 1) {
    // The usual case (one allocation): a plain UPDATE by key, which PostgreSQL runs faster than a join.
    const [batch] = changed;
    ctes.push(`changed_batches AS (
      UPDATE batches SET purchased_quantity = ${sql.add(batch.purchased)}::int, allocated_quantity = ${sql.add(batch.allocated)}::int
       WHERE reference = ${sql.add(batch.reference)}::varchar AND ${PASSED})`);
  } else if (changed.length > 1) {
    ctes.push(`changed_batches AS (
      UPDATE batches SET purchased_quantity = c.purchased, allocated_quantity = c.allocated
        FROM unnest(${sql.add(changed.map((b) => b.reference))}::varchar[], ${sql.add(changed.map((b) => b.purchased))}::int[],
                    ${sql.add(changed.map((b) => b.allocated))}::int[]) AS c(reference, purchased, allocated)
       WHERE batches.reference = c.reference AND batches.sku = ${sku}::varchar AND ${PASSED})`);
  }
  if (removedLines.length > 0) {
    ctes.push(`removed_lines AS (
      DELETE FROM allocations a
       USING unnest(${sql.add(removedLines.map((l) => l.orderid))}::varchar[], ${sql.add(removedLines.map((l) => l.batch))}::varchar[]) AS r(orderid, batch_reference)
       WHERE a.orderid = r.orderid AND a.sku = ${sku}::varchar AND a.batch_reference = r.batch_reference AND ${PASSED})`);
  }
  if (addedLines.length > 0) {
    // In allocation order (ids ascending): a shrink deallocates the most recent lines first.
    ctes.push(`added_lines AS (
      INSERT INTO allocations (orderid, sku, qty, batch_reference)
      SELECT l.orderid, ${sku}::varchar, l.qty, l.batch_reference
        FROM unnest(${sql.add(addedLines.map((l) => l.orderid))}::varchar[], ${sql.add(addedLines.map((l) => l.qty))}::int[],
                    ${sql.add(addedLines.map((l) => l.batch))}::varchar[]) WITH ORDINALITY AS l(orderid, qty, batch_reference, n)
       WHERE ${PASSED}
       ORDER BY l.n)`);
  }
  if (events.events.length > 0) ctes.push(`o AS (${outbox(PASSED)})`);
  const ids = events.events.length > 0 ? '(SELECT array_agg(id ORDER BY id) FROM o)' : 'NULL::bigint[]';
  return { text: `WITH ${ctes.join(',\n')}\nSELECT (SELECT count(*) FROM v)::int AS ok, ${ids} AS outbox_ids`, values: sql.values };
}

const PASSED = 'EXISTS (SELECT 1 FROM v)';

/** Bind parameters in order: `add` keeps a value and returns its placeholder. */
class Parameters {
  readonly values: unknown[] = [];

  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}
