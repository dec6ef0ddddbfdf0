import { EventsHandler } from '@nestjs/cqrs';
import { AllocationCancelled } from '../allocation/domain/index.js';
import { ChannelPublisher, lineMessage } from './redis-publishers.js';

export const ALLOCATION_CANCELLED = 'allocation_cancelled';

/** Tells other systems about every cancelled allocation, on Redis channel `<prefix>allocation_cancelled`. */
@EventsHandler(AllocationCancelled)
export class AllocationCancelledPublisher extends ChannelPublisher<AllocationCancelled> {
  readonly handlerName = 'AllocationCancelledPublisher';
  protected readonly channel = ALLOCATION_CANCELLED;
  protected message = lineMessage;
}
