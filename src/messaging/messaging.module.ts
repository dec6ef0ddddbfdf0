import { type DynamicModule, Global, Module } from '@nestjs/common';
import { DeliveryRunner } from './delivery-runner.js';
import type { EventHandlerMap } from './event-handler.js';
import { EVENT_HANDLERS, HandlerRegistry } from './handler-registry.js';
import { EventPublisher } from './event-publisher.js';
import { Metrics, MetricsController, registerDefaultMetrics } from './metrics.js';
import { OutboxDispatcher } from './outbox.dispatcher.js';
import { OutboxRelay } from './outbox.relay.js';
import { OutboxStore } from './outbox.store.js';

registerDefaultMetrics();

/**
 * The transactional outbox and everything after a commit: dispatch to the handlers EVENT_HANDLERS names,
 * per-handler retries and dead letters, the relay, and /metrics. Knows events and handlers by interface
 * only: it imports nothing from the modules above it.
 */
@Global()
@Module({})
export class MessagingModule {
  static forRoot(handlers: EventHandlerMap): DynamicModule {
    return {
      module: MessagingModule,
      controllers: [MetricsController], // GET /metrics, Prometheus text format
      providers: [
        { provide: EVENT_HANDLERS, useValue: handlers },
        HandlerRegistry,
        Metrics,
        OutboxStore,
        DeliveryRunner,
        OutboxDispatcher,
        OutboxRelay,
        { provide: EventPublisher, useExisting: OutboxDispatcher },
      ],
      exports: [Metrics, OutboxStore, DeliveryRunner, HandlerRegistry, OutboxDispatcher, OutboxRelay, EventPublisher],
    };
  }
}
