import { describe, expect, it } from '@jest/globals';
import { Batch, OrderLine } from '../../src/allocation/domain/index.js';

const batchAndLine = (sku: string, batchQty: number, lineQty: number) =>
  [new Batch('batch-001', sku, batchQty, null), new OrderLine('order-123', sku, lineQty)] as const;

describe('Batch', () => {
  it('allocating to a batch reduces the available quantity', () => {
    const [batch, line] = batchAndLine('SMALL-TABLE', 20, 2);
    batch.allocate(line);
    expect(batch.availableQuantity).toBe(18);
    expect(batch.allocatedQuantity).toBe(2);
  });

  it('can allocate if available is greater than or equal to required', () => {
    expect(batchAndLine('ELEGANT-LAMP', 20, 2)[0].canAllocate(batchAndLine('ELEGANT-LAMP', 20, 2)[1])).toBe(true);
    const [batch, line] = batchAndLine('ELEGANT-LAMP', 2, 2);
    expect(batch.canAllocate(line)).toBe(true);
  });

  it('cannot allocate if available is smaller than required', () => {
    const [batch, line] = batchAndLine('ELEGANT-LAMP', 2, 20);
    expect(batch.canAllocate(line)).toBe(false);
  });

  it('cannot allocate if the skus do not match', () => {
    const batch = new Batch('batch-001', 'UNCOMFORTABLE-CHAIR', 100, null);
    expect(batch.canAllocate(new OrderLine('order-123', 'EXPENSIVE-TOASTER', 10))).toBe(false);
  });

  it('allocating the same line twice changes nothing', () => {
    const [batch, line] = batchAndLine('ANGULAR-DESK', 20, 2);
    batch.allocate(line);
    batch.allocate(line);
    expect(batch.availableQuantity).toBe(18);
  });

  it('can only deallocate allocated lines', () => {
    const [batch, unallocated] = batchAndLine('DECORATIVE-TRINKET', 20, 2);
    batch.deallocate(unallocated);
    expect(batch.availableQuantity).toBe(20);
  });

  it('deallocates the most recent line first', () => {
    const batch = new Batch('b', 'SKU', 10, null);
    batch.allocate(new OrderLine('o1', 'SKU', 2));
    batch.allocate(new OrderLine('o2', 'SKU', 3));
    expect(batch.deallocateMostRecent()?.orderid).toBe('o2');
    expect(batch.allocatedQuantity).toBe(2);
  });

  it('keeps an exact total when loaded with only some of its lines', () => {
    const batch = new Batch('b', 'SKU', 10, null, [new OrderLine('o9', 'SKU', 1)], 7);
    expect(batch.availableQuantity).toBe(3);
    batch.allocate(new OrderLine('o10', 'SKU', 3));
    expect(batch.availableQuantity).toBe(0);
  });
});
