import { Inject } from '@nestjs/common';
import { EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../../config/config.js';
import { DeliveryRunner } from '../../messaging/delivery-runner.js';
import type { DurableHandler } from '../../messaging/durable-handler.js';
import { envelopeOf } from '../../messaging/event-codec.js';
import { OutOfStock } from '../domain/index.js';
import { Notifier } from '../notifications/notifier.js';

/** Tells the buying team that a SKU ran out; once per event, however often the event is delivered. */
@EventsHandler(OutOfStock)
export class OutOfStockNotifier implements IEventHandler<OutOfStock>, DurableHandler<OutOfStock> {
  readonly handlerName = 'OutOfStockNotifier';

  constructor(
    private readonly notifier: Notifier,
    private readonly runner: DeliveryRunner,
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    runner.register(this);
  }

  handle(event: OutOfStock): Promise<unknown> {
    return this.runner.run(this, event);
  }

  async deliver(event: OutOfStock): Promise<void> {
    const eventId = envelopeOf(event)?.eventId;
    if (eventId) {
      const sent: unknown[] = await this.dataSource.query('SELECT 1 FROM sent_notifications WHERE event_id = $1', [eventId]);
      if (sent.length > 0) return;
    }
    await this.notifier.send(
      this.config.notifyTo,
      // The book's text, as subject and as first line.
      `Out of stock for ${event.sku}`,
      `Out of stock for ${event.sku}\n\nAn order line for sku ${event.sku} could not be allocated: no batch has enough stock.`,
      eventId,
    );
    if (eventId) {
      await this.dataSource.query('INSERT INTO sent_notifications (event_id) VALUES ($1) ON CONFLICT DO NOTHING', [eventId]);
    }
  }
}
