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
