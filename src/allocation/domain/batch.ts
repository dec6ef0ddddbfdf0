import { OrderLine } from './order-line.js';

/** A calendar date `YYYY-MM-DD`; as text it sorts in date order. */
export type CalendarDate = string;

/**
 * A batch of stock: purchased quantity, an ETA (none: already in the warehouse) and the order lines
 * allocated to it.
 *
 * `allocatedQuantity` is always the exact total. `lines` are the allocated lines the batch was loaded
 * with: every one in memory, but a repository may load only the ones an operation needs (the line being
 * allocated, or all lines of a batch being shrunk) so that allocating stays cheap however many lines a
 * batch holds. Lines are kept in allocation order.
 *
 * Its identifier is `reference` here and in the database (`batches.reference`, `allocations.batch_reference`);
 * the API and the messages keep the book's names, `ref` for the batch itself and `batchref` for a line's batch.
 */
export class Batch {
  private readonly lines: OrderLine[];
  private allocated: number;

  constructor(
    readonly reference: string,
    readonly sku: string,
    private purchased: number,
    readonly eta: CalendarDate | null = null,
    lines: OrderLine[] = [],
    allocatedQuantity?: number,
  ) {
    this.lines = [...lines];
    this.allocated = allocatedQuantity ?? lines.reduce((sum, l) => sum + l.qty, 0);
  }

  get purchasedQuantity(): number {
    return this.purchased;
  }

  get allocatedQuantity(): number {
    return this.allocated;
  }

  get availableQuantity(): number {
    return this.purchased - this.allocated;
  }

  /** The loaded lines, oldest first. */
  get allocations(): readonly OrderLine[] {
    return this.lines;
  }

  lineFor(orderid: string): OrderLine | undefined {
    return this.lines.find((l) => l.orderid === orderid);
  }

  canAllocate(line: OrderLine): boolean {
    return this.sku === line.sku && this.availableQuantity >= line.qty;
  }

  /** Allocating a line the batch already holds changes nothing. */
  allocate(line: OrderLine): void {
    if (this.lineFor(line.orderid) || !this.canAllocate(line)) return;
    this.lines.push(line);
    this.allocated += line.qty;
  }

  deallocate(line: OrderLine): void {
    const index = this.lines.findIndex((l) => l.equals(line));
    if (index < 0) return;
    this.lines.splice(index, 1);
    this.allocated -= line.qty;
  }

  /** Removes and returns the most recently allocated line. */
  deallocateMostRecent(): OrderLine | undefined {
    const line = this.lines.pop();
    if (line) this.allocated -= line.qty;
    else if (this.allocated > 0) {
      throw new Error(`batch ${this.reference} was loaded without its lines; cannot choose one to deallocate`);
    }
    return line;
  }

  changePurchasedQuantity(qty: number): void {
    this.purchased = qty;
  }

  /** Warehouse stock (no ETA) first, then the earliest ETA; the reference breaks ties so the order is total. */
  static preferenceOrder(a: Batch, b: Batch): number {
    if (a.eta !== b.eta) {
      if (a.eta === null) return -1;
      if (b.eta === null) return 1;
      return a.eta < b.eta ? -1 : 1;
    }
    return a.reference < b.reference ? -1 : a.reference > b.reference ? 1 : 0;
  }
}
