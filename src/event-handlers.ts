import { Allocated, AllocationCancelled, Deallocated, OutOfStock } from './allocation/domain/index.js';
import { OutOfStockNotifier } from './allocation/events/out-of-stock.notifier.js';
import { ReallocationSaga } from './allocation/events/reallocation.saga.js';
import type { AppConfig } from './config/config.js';
import { AllocationCancelledPublisher } from './external-events/allocation-cancelled.publisher.js';
import { AllocationCancelledStreamPublisher } from './external-events/allocation-cancelled.stream-publisher.js';
import { ChangeBatchQuantityConsumer } from './external-events/change-batch-quantity.consumer.js';
import { ExternalMessageReceived } from './external-events/external-message-received.js';
import { ChangeBatchQuantityStreamConsumer } from './external-events/change-batch-quantity.stream-consumer.js';
import { LineAllocatedPublisher } from './external-events/line-allocated.publisher.js';
import { LineAllocatedStreamPublisher } from './external-events/line-allocated.stream-publisher.js';
import { StreamEntryReceived } from './external-events/stream-entry-received.js';
import type { Type } from '@nestjs/common';
import type { EventClass } from './messaging/event.js';
import type { EventHandler, EventHandlerMap } from './messaging/event-handler.js';

/**
 * Which handlers each event has, in one place (the book's EVENT_HANDLERS). After a command commits, its
 * events are dispatched to exactly these (each through the DeliveryRunner: caught, retried, dead-lettered),
 * and an event counts as dispatched once every one of them has succeeded or had its failure stored. Each
 * handler's @EventsHandler must name the same events; the service refuses to start otherwise.
 */
export function eventHandlers(config: Pick<AppConfig, 'redisUrl'>): EventHandlerMap {
  const redis = config.redisUrl !== undefined;
  return new Map<EventClass, Type<EventHandler>[]>([
    [Allocated, redis ? [LineAllocatedPublisher, LineAllocatedStreamPublisher] : []],
    [Deallocated, [ReallocationSaga]],
    [AllocationCancelled, redis ? [AllocationCancelledPublisher, AllocationCancelledStreamPublisher] : []],
    [OutOfStock, [OutOfStockNotifier]],
    [ExternalMessageReceived, redis ? [ChangeBatchQuantityConsumer] : []],
    [StreamEntryReceived, redis ? [ChangeBatchQuantityStreamConsumer] : []],
  ]);
}
