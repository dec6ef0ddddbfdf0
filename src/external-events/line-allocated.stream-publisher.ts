import { EventsHandler } from '@nestjs/cqrs';
import { Allocated } from '../allocation/domain/index.js';
import type { Envelope } from '../messaging/event.js';
import { EventHandler } from '../messaging/event-handler.js';
import { LINE_ALLOCATED } from './line-allocated.publisher.js';
import { StreamWriter } from './stream.writer.js';

/**
 * Adds every allocation to Redis stream `<prefix>line_allocated` (field `data`: the channel's JSON; field
 * `event_id`: for consumers to drop the copy a redelivery may add). A handler of its own, beside the
 * channel's publisher: each is retried on its own, so a retry of one never repeats the other.
 */
@EventsHandler(Allocated)
export class LineAllocatedStreamPublisher extends EventHandler<Allocated> {
  readonly handlerName = 'LineAllocatedStreamPublisher';

  constructor(private readonly streams: StreamWriter) {
    super();
  }

  async apply({ orderid, sku, qty, batchref }: Allocated, { eventId }: Envelope): Promise<void> {
    await this.streams.add(LINE_ALLOCATED, { orderid, sku, qty, batchref }, eventId);
  }
}
