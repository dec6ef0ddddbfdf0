import { Global, Module } from '@nestjs/common';
import { EventPublisher } from '../allocation/persistence/unit-of-work.js';
import { DeliveryStats } from './delivery-stats.js';
import { EventBusPublisher } from './event-bus.publisher.js';
import { ReadModelDeliveries } from './read-model-deliveries.js';
import { ResilientHandler } from './resilient-handler.js';

@Global()
@Module({
  providers: [DeliveryStats, ResilientHandler, ReadModelDeliveries, { provide: EventPublisher, useClass: EventBusPublisher }],
  exports: [DeliveryStats, ResilientHandler, ReadModelDeliveries, EventPublisher],
})
export class MessagingModule {}
