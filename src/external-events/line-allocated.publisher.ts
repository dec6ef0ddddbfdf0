import { EventsHandler } from '@nestjs/cqrs';
import { Allocated } from '../allocation/domain/index.js';
import { EventHandler } from '../messaging/event-handler.js';
import { RedisConnections } from './redis.connections.js';
import { RedisNames } from './redis-names.js';

export const LINE_ALLOCATED = 'line_allocated';

/** Tells other systems about every allocation, on Redis channel `<prefix>line_allocated` (the book's format). */
@EventsHandler(Allocated)
export class LineAllocatedPublisher extends EventHandler<Allocated> {
  readonly handlerName = 'LineAllocatedPublisher';

  constructor(
    private readonly redis: RedisConnections,
    private readonly names: RedisNames,
  ) {
    super();
  }

  async apply({ orderid, sku, qty, batchref }: Allocated): Promise<void> {
    await this.redis.commands.publish(this.names.of(LINE_ALLOCATED), JSON.stringify({ orderid, sku, qty, batchref }));
  }
}
