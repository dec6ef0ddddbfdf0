import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { UnknownBatch } from '../../domain/index.js';
import { Measured } from '../../../messaging/command-metrics.js';
import { UnitOfWork } from '../../persistence/unit-of-work.js';
import { ChangeBatchQuantity } from './change-batch-quantity.command.js';

@CommandHandler(ChangeBatchQuantity)
export class ChangeBatchQuantityHandler implements ICommandHandler<ChangeBatchQuantity> {
  constructor(private readonly uow: UnitOfWork) {}

  @Measured()
  execute({ ref, qty }: ChangeBatchQuantity): Promise<void> {
    return this.uow.run(async (products) => {
      const product = await products.getByBatchRef(ref);
      if (!product) throw new UnknownBatch(ref);
      product.changeBatchQuantity(ref, qty);
    });
  }
}
