import { Command } from '@nestjs/cqrs';
import type { AllocationOutcome } from '../../domain/index.js';

/**
 * Allocate again lines of one SKU that a shrink deallocated, in the order given: what `Allocate` does for
 * each, in one unit of work (the reallocation saga sends it for lines that queued up together).
 */
export class Reallocate extends Command<AllocationOutcome[]> {
  constructor(
    readonly sku: string,
    readonly lines: readonly { orderid: string; qty: number }[],
  ) {
    super();
  }
}
