import { EventsHandler } from '@nestjs/cqrs';
import { Allocated } from '../allocation/domain/index.js';
import { ChannelPublisher, lineMessage } from './redis-publishers.js';

export const LINE_ALLOCATED = 'line_allocated';

/** Tells other systems about every allocation, on Redis channel `<prefix>line_allocated` (the book's format). */
@EventsHandler(Allocated)
export class LineAllocatedPublisher extends ChannelPublisher<Allocated> {
  readonly handlerName = 'LineAllocatedPublisher';
  protected readonly channel = LINE_ALLOCATED;
  protected message = lineMessage;
}
