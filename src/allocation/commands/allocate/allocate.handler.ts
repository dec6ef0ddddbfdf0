import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type AllocationOutcome, OrderLine } from '../../domain/index.js';
import { Measured } from '../../../messaging/command-metrics.js';
import { Allocate } from './allocate.command.js';
import { AllocationGroups } from './allocation-groups.js';

@CommandHandler(Allocate)
export class AllocateHandler implements ICommandHandler<Allocate> {
  constructor(private readonly groups: AllocationGroups) {}

  /** The line is decided in a unit of work it may share with other allocations arriving meanwhile. */
  @Measured((outcome: AllocationOutcome) => (outcome.kind === 'out-of-stock' ? 'out_of_stock' : 'ok'))
  execute({ orderid, sku, qty }: Allocate): Promise<AllocationOutcome> {
    return this.groups.allocate(new OrderLine(orderid, sku, qty));
  }
}
