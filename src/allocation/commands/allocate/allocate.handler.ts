import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type AllocationOutcome, InvalidSku, OrderLine } from '../../domain/index.js';
import { Measured } from '../../../messaging/command-metrics.js';
import { UnitOfWork } from '../../persistence/unit-of-work.js';
import { Allocate } from './allocate.command.js';

@CommandHandler(Allocate)
export class AllocateHandler implements ICommandHandler<Allocate> {
  constructor(private readonly uow: UnitOfWork) {}

  @Measured((outcome: AllocationOutcome) => (outcome.kind === 'out-of-stock' ? 'out_of_stock' : 'ok'))
  execute({ orderid, sku, qty }: Allocate): Promise<AllocationOutcome> {
    return this.uow.run(async (products) => {
      const product = await products.get(sku, { orderids: [orderid] });
      if (!product) throw new InvalidSku(sku);
      return product.allocate(new OrderLine(orderid, sku, qty));
    });
  }
}
