import { EventsHandler } from '@nestjs/cqrs';
import { Allocated } from '../allocation/domain/index.js';
import { LINE_ALLOCATED } from './line-allocated.publisher.js';
import { lineMessage, StreamPublisher } from './redis-publishers.js';

/** Adds every allocation to Redis stream `<prefix>line_allocated`, with its `event_id`. */
@EventsHandler(Allocated)
export class LineAllocatedStreamPublisher extends StreamPublisher<Allocated> {
  readonly handlerName = 'LineAllocatedStreamPublisher';
  protected readonly stream = LINE_ALLOCATED;
  protected message = lineMessage;
}
