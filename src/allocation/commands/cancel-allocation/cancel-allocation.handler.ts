import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { RETRY_AFTER, TemporarilyUnavailable } from '../../../database/database-errors.js';
import { Measured } from '../../../messaging/command-metrics.js';
import { type CancelledLine, LineNotAllocated } from '../../domain/index.js';
import { UnitOfWork } from '../../persistence/unit-of-work.js';
import { CancelAllocation } from './cancel-allocation.command.js';

/** How long a cancel waits for the reallocation of its line, polling every POLL_MS, before a 503. */
const WAIT_MS = 5000;
const POLL_MS = 50;

@CommandHandler(CancelAllocation)
export class CancelAllocationHandler implements ICommandHandler<CancelAllocation> {
  constructor(private readonly uow: UnitOfWork) {}

  /**
   * A line whose batch just shrank is not allocated until the reallocation saga has run, which it does
   * right after: answering 404 then would let the saga allocate, a moment later, a line its client was told
   * is gone. So a line that is not allocated is looked at once more: if it awaits reallocation, the cancel
   * waits for it (and then cancels it, or finds it out of stock: 404); if it does not, it is read once more,
   * and what that read finds is the answer (nothing can allocate it in between but a new allocation).
   */
  @Measured()
  async execute({ orderid, sku }: CancelAllocation): Promise<CancelledLine> {
    const deadline = Date.now() + WAIT_MS;
    let settled = false;
    for (;;) {
      try {
        return await this.uow.run(async (products) => {
          const product = await products.get(sku, { orderids: [orderid] });
          if (!product) throw new LineNotAllocated(orderid, sku); // no such SKU: nothing was ever allocated
          return product.cancel(orderid);
        });
      } catch (error) {
        if (!(error instanceof LineNotAllocated) || settled) throw error;
        const awaiting = await this.uow.run((products) => products.awaitingReallocation(sku, orderid));
        if (!awaiting) settled = true;
        else if (Date.now() > deadline) throw new TemporarilyUnavailable(`Order ${orderid}'s line of sku ${sku} is being reallocated; try again`, RETRY_AFTER.contention);
        else await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    }
  }
}
