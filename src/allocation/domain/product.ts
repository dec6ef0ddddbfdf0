import { Batch, type CalendarDate } from './batch.js';
import { DuplicateBatch, LineNotAllocated, OrderLineConflict, UnknownBatch } from './errors.js';
import { Allocated, AllocationCancelled, Deallocated, type DomainEvent, OutOfStock } from './events.js';
import { OrderLine } from './order-line.js';

export type AllocationOutcome = { kind: 'allocated'; batchref: string } | { kind: 'out-of-stock' };

/** A line whose allocation was cancelled, and the batch it left. */
export interface CancelledLine {
  orderid: string;
  sku: string;
  qty: number;
  batchref: string;
}

/**
 * The aggregate: all batches of one SKU. Every change to them goes through here, and `version` is what
 * two concurrent commands on the same SKU contend for.
 */
export class Product {
  /** Events recorded since the product was loaded; the unit of work publishes them after commit. */
  readonly events: DomainEvent[] = [];
  private readonly batchList: Batch[];

  constructor(
    readonly sku: string,
    batches: Batch[] = [],
    public version = 0,
  ) {
    this.batchList = [...batches];
  }

  get batches(): readonly Batch[] {
    return this.batchList;
  }

  batch(ref: string): Batch | undefined {
    return this.batchList.find((b) => b.reference === ref);
  }

  addBatch(ref: string, qty: number, eta: CalendarDate | null = null): Batch {
    if (this.batch(ref)) throw new DuplicateBatch(ref);
    const batch = new Batch(ref, this.sku, qty, eta);
    this.batchList.push(batch);
    this.version += 1;
    return batch;
  }

  /**
   * Allocates the line to the preferred batch that has room. A line (orderid, sku) already allocated here
   * is answered with its batch and nothing changes, so a client may retry; the same line with another
   * quantity is an error. When nothing fits, records OutOfStock and allocates nothing.
   */
  allocate(line: OrderLine): AllocationOutcome {
    for (const batch of this.batchList) {
      const existing = batch.lineFor(line.orderid);
      if (!existing) continue;
      if (existing.qty !== line.qty) throw new OrderLineConflict(line.orderid, line.sku, existing.qty);
      return { kind: 'allocated', batchref: batch.reference };
    }
    const batch = [...this.batchList].sort(Batch.preferenceOrder).find((b) => b.canAllocate(line));
    if (!batch) {
      this.events.push(new OutOfStock(line.sku));
      return { kind: 'out-of-stock' };
    }
    batch.allocate(line);
    this.version += 1;
    this.events.push(new Allocated(line.orderid, line.sku, line.qty, batch.reference));
    return { kind: 'allocated', batchref: batch.reference };
  }

  /**
   * Cancels the allocation of order `orderid`'s line: it leaves its batch, whose stock is free again, and
   * AllocationCancelled is recorded. A line not allocated (never, or cancelled already) is an error, so a
   * retry after a success is told so rather than cancelling twice.
   */
  cancel(orderid: string): CancelledLine {
    for (const batch of this.batchList) {
      const line = batch.lineFor(orderid);
      if (!line) continue;
      batch.deallocate(line);
      this.version += 1;
      this.events.push(new AllocationCancelled(orderid, this.sku, line.qty, batch.reference));
      return { orderid, sku: this.sku, qty: line.qty, batchref: batch.reference };
    }
    throw new LineNotAllocated(orderid, this.sku);
  }

  /** Sets a batch's purchased quantity; lines it can no longer hold are deallocated, newest first. */
  changeBatchQuantity(ref: string, qty: number): void {
    const batch = this.batch(ref);
    if (!batch) throw new UnknownBatch(ref);
    batch.changePurchasedQuantity(qty);
    while (batch.availableQuantity < 0) {
      const line = batch.deallocateMostRecent()!;
      this.events.push(new Deallocated(line.orderid, line.sku, line.qty, batch.reference));
    }
    this.version += 1;
  }
}
