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
 * zero rows from `v` means another command got there first. Every list (batches, lines, events) travels
 * as an array, so the text is one of three fixed texts and the number of parameters never grows with the
 * data: a batch of 50,000 lines is shrunk with the same 21 parameters as one line is allocated.
 */
export function productStatement(before: ProductState | undefined, after: ProductState, events: OutboxRows, leaseMs: number): Statement | undefined {
  const outbox = [events.eventIds, events.names, events.skus, events.payloads, events.requestId ?? null, leaseMs];
  if (before && before.version === after.version) {
    // Nothing changed (out of stock, an idempotent retry): only the events, if any, are written.
    if (events.events.length === 0) return undefined;
    const insert = outboxInsert({ eventIds: '$1', names: '$2', skus: '$3', payloads: '$4', requestId: '$5', leaseMs: '$6' });
    return { text: `WITH o AS (${insert})\n${RESULT}`, values: outbox };
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

  return {
    text: before ? UPDATE_PRODUCT : INSERT_PRODUCT,
    values: [
      after.version, after.sku, before?.version ?? null,
      added.map((b) => b.reference), added.map((b) => b.purchased), added.map((b) => b.allocated), added.map((b) => b.eta),
      changed.map((b) => b.reference), changed.map((b) => b.purchased), changed.map((b) => b.allocated),
      removedLines.map((l) => l.orderid), removedLines.map((l) => l.batch),
      addedLines.map((l) => l.orderid), addedLines.map((l) => l.qty), addedLines.map((l) => l.batch),
      ...outbox,
    ],
  };
}

const RESULT = `SELECT 1 AS ok, (SELECT array_agg(id ORDER BY id) FROM o) AS outbox_ids`;
const PASSED = 'EXISTS (SELECT 1 FROM v)';

/** Everything after the version check; $1 new version, $2 sku, $3 version read. */
const CHANGES = `
  new_batches AS (
    INSERT INTO batches (reference, sku, purchased_quantity, allocated_quantity, eta)
    SELECT b.reference, $2::varchar, b.purchased, b.allocated, b.eta
      FROM unnest($4::varchar[], $5::int[], $6::int[], $7::date[]) AS b(reference, purchased, allocated, eta)
     WHERE ${PASSED}),
  changed_batches AS (
    UPDATE batches SET purchased_quantity = c.purchased, allocated_quantity = c.allocated
      FROM unnest($8::varchar[], $9::int[], $10::int[]) AS c(reference, purchased, allocated)
     WHERE batches.reference = c.reference AND batches.sku = $2::varchar AND ${PASSED}),
  removed_lines AS (
    DELETE FROM allocations a
     USING unnest($11::varchar[], $12::varchar[]) AS r(orderid, batch_reference)
     WHERE a.orderid = r.orderid AND a.sku = $2::varchar AND a.batch_reference = r.batch_reference AND ${PASSED}),
  added_lines AS (
    INSERT INTO allocations (orderid, sku, qty, batch_reference)
    SELECT l.orderid, $2::varchar, l.qty, l.batch_reference
      FROM unnest($13::varchar[], $14::int[], $15::varchar[]) WITH ORDINALITY AS l(orderid, qty, batch_reference, n)
     WHERE ${PASSED}
     ORDER BY l.n),
  o AS (${outboxInsert({ eventIds: '$16', names: '$17', skus: '$18', payloads: '$19', requestId: '$20', leaseMs: '$21' }, PASSED)})
SELECT (SELECT count(*) FROM v)::int AS ok, (SELECT array_agg(id ORDER BY id) FROM o) AS outbox_ids`;

const UPDATE_PRODUCT = `WITH v AS (UPDATE products SET version = $1::int WHERE sku = $2::varchar AND version = $3::int RETURNING 1),${CHANGES}`;
// A new product: $3 (no version read) is null.
const INSERT_PRODUCT = `WITH v AS (INSERT INTO products (sku, version) SELECT $2::varchar, $1::int WHERE $3::int IS NULL RETURNING 1),${CHANGES}`;
