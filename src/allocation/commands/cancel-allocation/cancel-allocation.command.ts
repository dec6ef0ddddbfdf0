import { Command } from '@nestjs/cqrs';
import type { CancelledLine } from '../../domain/index.js';

/** Cancel the allocation of order line (orderid, sku): its stock is free again. */
export class CancelAllocation extends Command<CancelledLine> {
  constructor(
    readonly orderid: string,
    readonly sku: string,
  ) {
    super();
  }
}
