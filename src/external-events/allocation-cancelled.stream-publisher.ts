import { EventsHandler } from '@nestjs/cqrs';
import { AllocationCancelled } from '../allocation/domain/index.js';
import { ALLOCATION_CANCELLED } from './allocation-cancelled.publisher.js';
import { lineMessage, StreamPublisher } from './redis-publishers.js';

/** Adds every cancelled allocation to Redis stream `<prefix>allocation_cancelled`, with its `event_id`. */
@EventsHandler(AllocationCancelled)
export class AllocationCancelledStreamPublisher extends StreamPublisher<AllocationCancelled> {
  readonly handlerName = 'AllocationCancelledStreamPublisher';
  protected readonly stream = ALLOCATION_CANCELLED;
  protected message = lineMessage;
}
