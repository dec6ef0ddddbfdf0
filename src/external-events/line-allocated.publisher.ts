import { EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import { Allocated } from '../allocation/domain/index.js';
import { DeliveryRunner } from '../messaging/delivery-runner.js';
import type { DurableHandler } from '../messaging/durable-handler.js';
import { RedisConnections } from './redis.connections.js';
import { RedisNames } from './redis-names.js';

export const LINE_ALLOCATED = 'line_allocated';

/** Tells other systems about every allocation, on Redis channel `<prefix>line_allocated` (the book's format). */
@EventsHandler(Allocated)
export class LineAllocatedPublisher implements IEventHandler<Allocated>, DurableHandler<Allocated> {
  readonly handlerName = 'LineAllocatedPublisher';

  constructor(
    private readonly redis: RedisConnections,
    private readonly names: RedisNames,
    private readonly runner: DeliveryRunner,
  ) {
    runner.register(this);
  }

  handle(event: Allocated): Promise<unknown> {
    return this.runner.run(this, event);
  }

  async deliver({ orderid, sku, qty, batchref }: Allocated): Promise<void> {
    await this.redis.commands.publish(this.names.of(LINE_ALLOCATED), JSON.stringify({ orderid, sku, qty, batchref }));
  }
}
