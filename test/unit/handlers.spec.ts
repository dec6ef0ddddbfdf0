import { beforeEach, describe, expect, it } from '@jest/globals';
import { AllocateHandler } from '../../src/allocation/commands/allocate/allocate.handler.js';
import { AllocationGroups } from '../../src/allocation/commands/allocate/allocation-groups.js';
import { Allocate } from '../../src/allocation/commands/allocate/allocate.command.js';
import { ChangeBatchQuantityHandler } from '../../src/allocation/commands/change-batch-quantity/change-batch-quantity.handler.js';
import { ChangeBatchQuantity } from '../../src/allocation/commands/change-batch-quantity/change-batch-quantity.command.js';
import { CancelAllocation } from '../../src/allocation/commands/cancel-allocation/cancel-allocation.command.js';
import { CancelAllocationHandler } from '../../src/allocation/commands/cancel-allocation/cancel-allocation.handler.js';
import { CreateBatchHandler } from '../../src/allocation/commands/create-batch/create-batch.handler.js';
import { CreateBatch } from '../../src/allocation/commands/create-batch/create-batch.command.js';
import {
  Allocated,
  AllocationCancelled,
  Deallocated,
  DuplicateBatch,
  InvalidSku,
  LineNotAllocated,
  OutOfStock,
  UnknownBatch,
} from '../../src/allocation/domain/index.js';
import { FakeUnitOfWork } from '../fakes/fake-unit-of-work.js';

describe('command handlers (in-memory unit of work)', () => {
  let uow: FakeUnitOfWork;
  let createBatch: (ref: string, sku: string, qty: number, eta?: string | null) => Promise<void>;
  let allocate: (orderid: string, sku: string, qty: number) => ReturnType<AllocateHandler['execute']>;
  let changeQuantity: (ref: string, qty: number) => Promise<void>;

  beforeEach(() => {
    uow = new FakeUnitOfWork();
    const create = new CreateBatchHandler(uow);
    const alloc = new AllocateHandler(new AllocationGroups(uow, { databasePoolSize: 10 }));
    const change = new ChangeBatchQuantityHandler(uow);
    createBatch = (ref, sku, qty, eta = null) => create.execute(new CreateBatch(ref, sku, qty, eta));
    allocate = (orderid, sku, qty) => alloc.execute(new Allocate(orderid, sku, qty));
    changeQuantity = (ref, qty) => change.execute(new ChangeBatchQuantity(ref, qty));
  });

  describe('CreateBatch', () => {
    it('creates a product for a new SKU and commits', async () => {
      await createBatch('b1', 'CRUNCHY-ARMCHAIR', 100);
      expect(uow.products.products.get('CRUNCHY-ARMCHAIR')?.batch('b1')).toBeDefined();
      expect(uow.commits).toBe(1);
    });

    it('adds to the existing product of a known SKU', async () => {
      await createBatch('b1', 'GARISH-RUG', 100);
      await createBatch('b2', 'GARISH-RUG', 99);
      expect(uow.products.products.get('GARISH-RUG')?.batches.map((b) => b.reference)).toEqual(['b1', 'b2']);
    });

    it('refuses a reference already used, even under another SKU', async () => {
      await createBatch('b1', 'RUG', 100);
      await expect(createBatch('b1', 'LAMP', 5)).rejects.toThrow(DuplicateBatch);
      expect(uow.products.products.has('LAMP')).toBe(false);
    });
  });

  describe('Allocate', () => {
    it('returns the batch and publishes Allocated after the commit', async () => {
      await createBatch('b1', 'COMPLICATED-LAMP', 100);
      expect(await allocate('o1', 'COMPLICATED-LAMP', 10)).toEqual({ kind: 'allocated', batchref: 'b1' });
      expect(uow.commits).toBe(2);
      expect(uow.published).toEqual([new Allocated('o1', 'COMPLICATED-LAMP', 10, 'b1')]);
    });

    it('throws InvalidSku for a SKU that never had a batch', async () => {
      await createBatch('b1', 'AREALSKU', 100);
      await expect(allocate('o1', 'NONEXISTENTSKU', 10)).rejects.toThrow(new InvalidSku('NONEXISTENTSKU'));
    });

    it('commits an out-of-stock outcome so that OutOfStock is published', async () => {
      await createBatch('b1', 'POPULAR-CURTAINS', 9);
      expect(await allocate('o1', 'POPULAR-CURTAINS', 10)).toEqual({ kind: 'out-of-stock' });
      expect(uow.commits).toBe(2);
      expect(uow.published).toEqual([new OutOfStock('POPULAR-CURTAINS')]);
    });
  });

  describe('ChangeBatchQuantity', () => {
    it('changes the purchased quantity', async () => {
      await createBatch('b1', 'ADORABLE-SETTEE', 100);
      await changeQuantity('b1', 50);
      expect(uow.products.products.get('ADORABLE-SETTEE')?.batch('b1')?.availableQuantity).toBe(50);
    });

    it('deallocates what no longer fits and publishes Deallocated', async () => {
      await createBatch('b1', 'INDIFFERENT-TABLE', 50);
      await createBatch('b2', 'INDIFFERENT-TABLE', 50, '2026-12-01');
      await allocate('o1', 'INDIFFERENT-TABLE', 20);
      await allocate('o2', 'INDIFFERENT-TABLE', 20);
      uow.published.length = 0;
      await changeQuantity('b1', 25);
      expect(uow.published).toEqual([new Deallocated('o2', 'INDIFFERENT-TABLE', 20, 'b1')]);
    });

    it('throws UnknownBatch for a reference nobody created', async () => {
      await expect(changeQuantity('nope', 5)).rejects.toThrow(UnknownBatch);
    });
  });

  describe('CancelAllocation', () => {
    const cancel = (orderid: string, sku: string) => new CancelAllocationHandler(uow).execute(new CancelAllocation(orderid, sku));

    it('frees the line and publishes AllocationCancelled after the commit', async () => {
      await createBatch('b1', 'QUIET-LAMP', 10);
      await allocate('o1', 'QUIET-LAMP', 7);
      uow.published.length = 0;
      expect(await cancel('o1', 'QUIET-LAMP')).toEqual({ orderid: 'o1', sku: 'QUIET-LAMP', qty: 7, batchref: 'b1' });
      expect(uow.products.products.get('QUIET-LAMP')?.batch('b1')?.availableQuantity).toBe(10);
      expect(uow.published).toEqual([new AllocationCancelled('o1', 'QUIET-LAMP', 7, 'b1')]);
    });

    it('throws LineNotAllocated for a line never allocated, or of an unknown SKU', async () => {
      await createBatch('b1', 'QUIET-LAMP', 10);
      await expect(cancel('o1', 'QUIET-LAMP')).rejects.toThrow(LineNotAllocated);
      await expect(cancel('o1', 'NO-SUCH-SKU')).rejects.toThrow(LineNotAllocated);
    });

    it('waits for a line that awaits reallocation, and cancels it once it is allocated again', async () => {
      await createBatch('b1', 'QUIET-LAMP', 10);
      uow.products.awaiting.add('QUIET-LAMP/o1'); // its batch shrank; the saga has not run yet
      const cancelled = cancel('o1', 'QUIET-LAMP');
      await new Promise((r) => setTimeout(r, 120));
      await allocate('o1', 'QUIET-LAMP', 3); // the saga's reallocation
      uow.products.awaiting.delete('QUIET-LAMP/o1');
      await expect(cancelled).resolves.toEqual({ orderid: 'o1', sku: 'QUIET-LAMP', qty: 3, batchref: 'b1' });
    });
  });
});
