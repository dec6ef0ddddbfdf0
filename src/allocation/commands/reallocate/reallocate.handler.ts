import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { Measured } from '../../../messaging/command-metrics.js';
import { type AllocationOutcome, InvalidSku, OrderLine } from '../../domain/index.js';
import { UnitOfWork } from '../../persistence/unit-of-work.js';
import { Reallocate } from './reallocate.command.js';

@CommandHandler(Reallocate)
export class ReallocateHandler implements ICommandHandler<Reallocate> {
  constructor(private readonly uow: UnitOfWork) {}

  @Measured()
  execute({ sku, lines }: Reallocate): Promise<AllocationOutcome[]> {
    return this.uow.run(async (products) => {
      const product = await products.get(sku, { orderids: lines.map((l) => l.orderid) });
      if (!product) throw new InvalidSku(sku);
      return lines.map((l) => product.allocate(new OrderLine(l.orderid, sku, l.qty)));
    });
  }
}
