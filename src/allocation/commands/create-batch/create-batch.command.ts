import { Command } from '@nestjs/cqrs';
import type { CalendarDate } from '../../domain/index.js';

/** Add a batch of stock: `qty` units of `sku`, arriving at `eta` (null: already in the warehouse). */
export class CreateBatch extends Command<void> {
  constructor(
    readonly ref: string,
    readonly sku: string,
    readonly qty: number,
    readonly eta: CalendarDate | null = null,
  ) {
    super();
  }
}
