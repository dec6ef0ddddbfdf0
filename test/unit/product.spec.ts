import { describe, expect, it } from '@jest/globals';
import {
  Allocated,
  AllocationCancelled,
  Batch,
  Deallocated,
  DuplicateBatch,
  LineNotAllocated,
  OrderLine,
  OrderLineConflict,
  OutOfStock,
  Product,
  UnknownBatch,
} from '../../src/allocation/domain/index.js';

const today = '2026-11-25';
const tomorrow = '2026-11-26';
const later = '2026-12-25';

describe('Product.allocate', () => {
  it('prefers warehouse batches to shipments', () => {
    const inStock = new Batch('in-stock', 'RETRO-CLOCK', 100, null);
    const shipment = new Batch('shipment', 'RETRO-CLOCK', 100, tomorrow);
    const product = new Product('RETRO-CLOCK', [shipment, inStock]);
    product.allocate(new OrderLine('oref', 'RETRO-CLOCK', 10));
    expect(inStock.availableQuantity).toBe(90);
    expect(shipment.availableQuantity).toBe(100);
  });

  it('prefers the earliest batch', () => {
    const earliest = new Batch('speedy', 'MINIMALIST-SPOON', 100, today);
    const medium = new Batch('normal', 'MINIMALIST-SPOON', 100, tomorrow);
    const latest = new Batch('slow', 'MINIMALIST-SPOON', 100, later);
    const product = new Product('MINIMALIST-SPOON', [medium, latest, earliest]);
    product.allocate(new OrderLine('order1', 'MINIMALIST-SPOON', 10));
    expect([earliest, medium, latest].map((b) => b.availableQuantity)).toEqual([90, 100, 100]);
  });

  it('skips a preferred batch that is too small', () => {
    const small = new Batch('small', 'LAMP', 5, null);
    const big = new Batch('big', 'LAMP', 50, later);
    const product = new Product('LAMP', [small, big]);
    expect(product.allocate(new OrderLine('o', 'LAMP', 10))).toEqual({ kind: 'allocated', batchref: 'big' });
  });

  it('returns the allocated batch ref, records Allocated and bumps the version', () => {
    const product = new Product('HIGHBROW-POSTER', [new Batch('b1', 'HIGHBROW-POSTER', 100, null)], 7);
    const outcome = product.allocate(new OrderLine('oref', 'HIGHBROW-POSTER', 10));
    expect(outcome).toEqual({ kind: 'allocated', batchref: 'b1' });
    expect(product.version).toBe(8);
    expect(product.events).toEqual([new Allocated('oref', 'HIGHBROW-POSTER', 10, 'b1')]);
  });

  it('records OutOfStock when nothing fits, allocates nothing and keeps the version', () => {
    const batch = new Batch('b1', 'SMALL-FORK', 10, today);
    const product = new Product('SMALL-FORK', [batch], 3);
    product.allocate(new OrderLine('order1', 'SMALL-FORK', 10));
    const outcome = product.allocate(new OrderLine('order2', 'SMALL-FORK', 1));
    expect(outcome).toEqual({ kind: 'out-of-stock' });
    expect(product.events.at(-1)).toEqual(new OutOfStock('SMALL-FORK'));
    expect(batch.allocatedQuantity).toBe(10);
    expect(product.version).toBe(4);
  });

  it('answers a retried line with its batch and changes nothing', () => {
    const product = new Product('SKU', [new Batch('a', 'SKU', 10, null), new Batch('b', 'SKU', 10, later)]);
    product.allocate(new OrderLine('o1', 'SKU', 4));
    const version = product.version;
    const events = product.events.length;
    expect(product.allocate(new OrderLine('o1', 'SKU', 4))).toEqual({ kind: 'allocated', batchref: 'a' });
    expect(product.version).toBe(version);
    expect(product.events).toHaveLength(events);
    expect(product.batch('a')!.allocatedQuantity).toBe(4);
  });

  it('refuses the same line with another quantity', () => {
    const product = new Product('SKU', [new Batch('a', 'SKU', 10, null)]);
    product.allocate(new OrderLine('o1', 'SKU', 4));
    expect(() => product.allocate(new OrderLine('o1', 'SKU', 5))).toThrow(OrderLineConflict);
    expect(product.batch('a')!.allocatedQuantity).toBe(4);
  });
});

describe('Product.changeBatchQuantity', () => {
  it('deallocates the newest lines until the batch fits, recording Deallocated for each', () => {
    const batch = new Batch('b1', 'SKU', 20, null);
    const product = new Product('SKU', [batch]);
    product.allocate(new OrderLine('o1', 'SKU', 10));
    product.allocate(new OrderLine('o2', 'SKU', 5));
    product.allocate(new OrderLine('o3', 'SKU', 5));
    product.events.length = 0;
    product.changeBatchQuantity('b1', 11);
    expect(batch.purchasedQuantity).toBe(11);
    expect(batch.allocatedQuantity).toBe(10);
    expect(product.events).toEqual([new Deallocated('o3', 'SKU', 5, 'b1'), new Deallocated('o2', 'SKU', 5, 'b1')]);
  });

  it('deallocates nothing when the batch still fits', () => {
    const product = new Product('SKU', [new Batch('b1', 'SKU', 20, null)]);
    product.allocate(new OrderLine('o1', 'SKU', 10));
    product.events.length = 0;
    const version = product.version;
    product.changeBatchQuantity('b1', 10);
    expect(product.events).toEqual([]);
    expect(product.version).toBe(version + 1);
  });

  it('can shrink a batch to zero', () => {
    const product = new Product('SKU', [new Batch('b1', 'SKU', 3, null)]);
    product.allocate(new OrderLine('o1', 'SKU', 3));
    product.changeBatchQuantity('b1', 0);
    expect(product.batch('b1')!.availableQuantity).toBe(0);
    expect(product.batch('b1')!.allocatedQuantity).toBe(0);
  });

  it('throws UnknownBatch for a batch it does not hold', () => {
    expect(() => new Product('SKU').changeBatchQuantity('nope', 1)).toThrow(UnknownBatch);
  });
});

describe('Product.addBatch', () => {
  it('adds a batch and bumps the version', () => {
    const product = new Product('SKU');
    product.addBatch('b1', 10, '2026-12-01');
    expect(product.batch('b1')).toMatchObject({ reference: 'b1', sku: 'SKU', eta: '2026-12-01', purchasedQuantity: 10 });
    expect(product.version).toBe(1);
  });

  it('refuses a duplicate reference', () => {
    const product = new Product('SKU');
    product.addBatch('b1', 10);
    expect(() => product.addBatch('b1', 5)).toThrow(DuplicateBatch);
  });
});

describe('Product.cancel', () => {
  it('frees the quantity of the batch that holds the line, and records AllocationCancelled', () => {
    const warehouse = new Batch('warehouse', 'LAMP', 10, null);
    const shipment = new Batch('shipment', 'LAMP', 10, tomorrow);
    const product = new Product('LAMP', [warehouse, shipment]);
    product.allocate(new OrderLine('o1', 'LAMP', 10));
    product.allocate(new OrderLine('o2', 'LAMP', 4)); // the warehouse is full: the shipment
    const version = product.version;
    product.events.length = 0;

    expect(product.cancel('o2')).toEqual({ orderid: 'o2', sku: 'LAMP', qty: 4, batchref: 'shipment' });
    expect(shipment.availableQuantity).toBe(10);
    expect(shipment.lineFor('o2')).toBeUndefined();
    expect(warehouse.availableQuantity).toBe(0); // untouched
    expect(product.version).toBe(version + 1);
    expect(product.events).toEqual([new AllocationCancelled('o2', 'LAMP', 4, 'shipment')]);
  });

  it('refuses to cancel a line that is not allocated, and changes nothing', () => {
    const batch = new Batch('b', 'LAMP', 10, null);
    const product = new Product('LAMP', [batch]);
    product.allocate(new OrderLine('o1', 'LAMP', 3));
    product.events.length = 0;
    const version = product.version;
    expect(() => product.cancel('unknown')).toThrow(LineNotAllocated);
    product.cancel('o1');
    expect(() => product.cancel('o1')).toThrow(LineNotAllocated); // cancelled already
    expect(product.version).toBe(version + 1);
    expect(product.events).toHaveLength(1);
  });

  it('lets the freed stock be allocated again', () => {
    const product = new Product('LAMP', [new Batch('b', 'LAMP', 5, null)]);
    product.allocate(new OrderLine('o1', 'LAMP', 5));
    expect(product.allocate(new OrderLine('o2', 'LAMP', 5))).toEqual({ kind: 'out-of-stock' });
    product.cancel('o1');
    expect(product.allocate(new OrderLine('o2', 'LAMP', 5))).toEqual({ kind: 'allocated', batchref: 'b' });
  });
});

/**
 * The repository loads a product partly (product.repository.ts): for a line's order, the batches with room
 * and the batches holding that order's line (with that line only); for a batch's change, that batch with
 * all its lines. Over random products, the domain must decide exactly as it would on the whole product.
 */
describe('Product on the part the repository loads: same decisions as on the whole', () => {
  type Spec = { ref: string; eta: string | null; purchased: number; lines: { orderid: string; qty: number }[] };
  type Op = { kind: 'allocate'; orderid: string; qty: number } | { kind: 'cancel'; orderid: string } | { kind: 'change'; ref: string; qty: number };

  // A small seeded generator (mulberry32): a failure is reproducible from its trial number.
  function random(seed: number) {
    let a = seed;
    const next = () => {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
    const pick = <T>(items: readonly T[]) => items[int(0, items.length - 1)];
    return { int, pick };
  }

  function generate(seed: number): { specs: Spec[]; op: Op } {
    const { int, pick } = random(seed);
    let order = 0;
    const specs: Spec[] = Array.from({ length: int(1, 25) }, (_, i) => {
      // Few ETAs, so that ties (broken by reference) are common; references in no particular order.
      const purchased = int(0, 6);
      const lines: Spec['lines'] = [];
      for (let left = purchased; left > 0 && int(0, 3) > 0; ) {
        const qty = int(1, left);
        lines.push({ orderid: `o${order++}`, qty });
        left -= qty;
      }
      return { ref: `b${(i * 7919) % 101}`, eta: pick([null, today, tomorrow, later]), purchased, lines };
    });
    const existing = specs.flatMap((s) => s.lines);
    const known = () => (existing.length > 0 && int(0, 1) === 1 ? pick(existing) : undefined);
    const op: Op = (() => {
      switch (int(0, 3)) {
        case 0:
          return { kind: 'allocate', orderid: `new${seed}`, qty: int(1, 5) };
        case 1: {
          const line = known() ?? { orderid: `new${seed}`, qty: 1 };
          return { kind: 'allocate', orderid: line.orderid, qty: int(0, 1) === 0 ? line.qty : line.qty + 1 }; // a retry, or a conflict
        }
        case 2:
          return { kind: 'cancel', orderid: (known() ?? { orderid: `none${seed}` }).orderid };
        default:
          return { kind: 'change', ref: pick(specs).ref, qty: int(0, 8) };
      }
    })();
    return { specs, op };
  }

  const batchOf = (spec: Spec, lines = spec.lines) =>
    new Batch(spec.ref, 'SKU', spec.purchased, spec.eta, lines.map((l) => new OrderLine(l.orderid, 'SKU', l.qty)), spec.lines.reduce((n, l) => n + l.qty, 0));

  /** What the repository loads for the operation. */
  function partOf(specs: Spec[], op: Op): Batch[] {
    if (op.kind === 'change') return specs.filter((s) => s.ref === op.ref).map((s) => batchOf(s));
    const ofOrder = (s: Spec) => s.lines.filter((l) => l.orderid === op.orderid);
    return specs.filter((s) => s.purchased > s.lines.reduce((n, l) => n + l.qty, 0) || ofOrder(s).length > 0).map((s) => batchOf(s, ofOrder(s)));
  }

  function apply(product: Product, op: Op): unknown {
    try {
      if (op.kind === 'allocate') return product.allocate(new OrderLine(op.orderid, 'SKU', op.qty));
      if (op.kind === 'cancel') return product.cancel(op.orderid);
      return product.changeBatchQuantity(op.ref, op.qty);
    } catch (error) {
      return (error as Error).constructor.name;
    }
  }

  const state = (b: Batch) => ({ purchased: b.purchasedQuantity, allocated: b.allocatedQuantity });

  it('over 2,000 random products and operations', () => {
    const same = (trial: number, what: string, onPart: unknown, onWhole: unknown) => {
      // Compared as JSON first: building the failure message for every trial would take seconds.
      if (JSON.stringify(onPart) !== JSON.stringify(onWhole)) expect({ trial, what, onPart }).toEqual({ trial, what, onPart: onWhole });
    };
    for (let trial = 1; trial <= 2000; trial++) {
      const { specs, op } = generate(trial);
      const whole = new Product('SKU', specs.map((s) => batchOf(s)), 7);
      const part = new Product('SKU', partOf(specs, op), 7);

      same(trial, `outcome of ${JSON.stringify(op)}`, apply(part, op), apply(whole, op));
      same(trial, 'events and version', [part.events, part.version], [whole.events, whole.version]);
      // Every batch changed on the whole was loaded, and ended the same on the part.
      for (const batch of whole.batches) {
        const loaded = part.batch(batch.reference);
        const before = batchOf(specs.find((s) => s.ref === batch.reference)!);
        same(trial, `batch ${batch.reference}`, state(loaded ?? before), state(batch));
      }
    }
  });
});
