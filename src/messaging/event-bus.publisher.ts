import { Injectable } from '@nestjs/common';
import { EventBus } from '@nestjs/cqrs';
import type { DomainEvent } from '../allocation/domain/index.js';
import { EventPublisher } from '../allocation/persistence/unit-of-work.js';
import { ReadModelDeliveries } from './read-model-deliveries.js';

/**
 * Publishes committed events on the NestJS EventBus. `EventBus.publish` is fire-and-forget, so to keep
 * "read your writes" the projections report their deliveries to `ReadModelDeliveries`, and we wait for
 * those (never for e-mails or sagas) before the command answers.
 */
@Injectable()
export class EventBusPublisher extends EventPublisher {
  constructor(
    private readonly eventBus: EventBus,
    private readonly readModel: ReadModelDeliveries,
  ) {
    super();
  }

  async publish(events: readonly DomainEvent[]): Promise<void> {
    const projections = this.readModel.capture(() => {
      for (const event of events) this.eventBus.publish(event);
    });
    await Promise.all(projections);
  }
}
