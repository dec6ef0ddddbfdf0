import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { DuplicateBatch, Product } from '../../domain/index.js';
import { Measured } from '../../../messaging/command-metrics.js';
import { UnitOfWork } from '../../persistence/unit-of-work.js';
import { CreateBatch } from './create-batch.command.js';

@CommandHandler(CreateBatch)
export class CreateBatchHandler implements ICommandHandler<CreateBatch> {
  constructor(private readonly uow: UnitOfWork) {}

  @Measured()
  execute({ ref, sku, qty, eta }: CreateBatch): Promise<void> {
    return this.uow.run(async (products) => {
      // References are unique across SKUs, which one product alone cannot see.
      if (await products.batchExists(ref)) throw new DuplicateBatch(ref);
      let product = await products.get(sku);
      if (!product) {
        product = new Product(sku);
        products.add(product);
      }
      product.addBatch(ref, qty, eta);
    });
  }
}
