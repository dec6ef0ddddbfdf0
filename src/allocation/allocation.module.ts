import { Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { AllocateHandler } from './commands/allocate/allocate.handler.js';
import { AllocationGroups } from './commands/allocate/allocation-groups.js';
import { CancelAllocationHandler } from './commands/cancel-allocation/cancel-allocation.handler.js';
import { ChangeBatchQuantityHandler } from './commands/change-batch-quantity/change-batch-quantity.handler.js';
import { CreateBatchHandler } from './commands/create-batch/create-batch.handler.js';
import { ReallocateHandler } from './commands/reallocate/reallocate.handler.js';
import { OutOfStockNotifier } from './events/out-of-stock.notifier.js';
import { ReallocationSaga } from './events/reallocation.saga.js';
import { AllocationController } from './http/allocation.controller.js';
import { EmailNotifier, LogNotifier } from './notifications/email.notifier.js';
import { Notifier } from './notifications/notifier.js';
import { TypeOrmUnitOfWork } from './persistence/typeorm-unit-of-work.js';
import { UnitOfWork } from './persistence/unit-of-work.js';
import { GetAllocationsHandler } from './queries/get-allocations/get-allocations.handler.js';
import { GetProductHandler } from './queries/get-product/get-product.handler.js';

@Module({
  controllers: [AllocationController],
  providers: [
    AllocateHandler,
    AllocationGroups,
    CreateBatchHandler,
    ReallocateHandler,
    ChangeBatchQuantityHandler,
    CancelAllocationHandler,
    GetAllocationsHandler,
    GetProductHandler,
    OutOfStockNotifier,
    ReallocationSaga,
    { provide: UnitOfWork, useClass: TypeOrmUnitOfWork },
    {
      provide: Notifier,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        config.smtpUrl ? new EmailNotifier(config.smtpUrl, config.smtpFrom) : new LogNotifier(),
    },
  ],
})
export class AllocationModule implements OnApplicationShutdown {
  constructor(@Inject(Notifier) private readonly notifier: Notifier) {}

  onApplicationShutdown(): void {
    if (this.notifier instanceof EmailNotifier) this.notifier.close();
  }
}
