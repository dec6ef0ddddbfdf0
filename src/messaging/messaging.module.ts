import { Global, Module } from '@nestjs/common';
import { EventPublisher } from '../allocation/persistence/unit-of-work.js';
import { CommandMetrics } from './command-metrics.js';
import { DeliveryRunner } from './delivery-runner.js';
import { Metrics, MetricsController, OutboxFigures, registerDefaultMetrics } from './metrics.js';
import { OutboxDispatcher } from './outbox.dispatcher.js';
import { OutboxRelay } from './outbox.relay.js';
import { OutboxStore } from './outbox.store.js';

registerDefaultMetrics();

@Global()
@Module({
  controllers: [MetricsController], // GET /metrics, Prometheus text format
  providers: [
    Metrics,
    CommandMetrics,
    OutboxStore,
    DeliveryRunner,
    OutboxDispatcher,
    OutboxRelay,
    { provide: EventPublisher, useExisting: OutboxDispatcher },
    { provide: OutboxFigures, useExisting: OutboxStore },
  ],
  exports: [Metrics, OutboxStore, DeliveryRunner, OutboxDispatcher, OutboxRelay, EventPublisher],
})
export class MessagingModule {}
