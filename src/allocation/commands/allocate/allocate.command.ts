import { Command } from '@nestjs/cqrs';
import type { AllocationOutcome } from '../../domain/index.js';

/** Allocate order line (orderid, sku, qty) to the best batch of its SKU. */
export class Allocate extends Command<AllocationOutcome> {
  constructor(
    readonly orderid: string,
    readonly sku: string,
    readonly qty: number,
  ) {
    super();
  }
}
