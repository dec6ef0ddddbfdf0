import { Inject } from '@nestjs/common';
import { EventsHandler } from '@nestjs/cqrs';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../../config/config.js';
import type { Envelope } from '../../messaging/event.js';
import { EventHandler } from '../../messaging/event-handler.js';
import { OutOfStock } from '../domain/index.js';
import { Notifier } from '../notifications/notifier.js';

/** Tells the buying team that a SKU ran out (the book's e-mail); once per event, however often it is delivered. */
@EventsHandler(OutOfStock)
export class OutOfStockNotifier extends EventHandler<OutOfStock> {
  readonly handlerName = 'OutOfStockNotifier';

  constructor(
    private readonly notifier: Notifier,
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  async apply({ sku }: OutOfStock, { eventId }: Envelope): Promise<void> {
    const sent: unknown[] = await this.dataSource.query('SELECT 1 FROM sent_notifications WHERE event_id = $1', [eventId]);
    if (sent.length > 0) return;
    const text = `Out of stock for ${sku}`; // the book's text, as subject and as first line
    await this.notifier.send(this.config.notifyTo, text, `${text}\n\nAn order line for sku ${sku} could not be allocated: no batch has enough stock.`, eventId);
    await this.dataSource.query('INSERT INTO sent_notifications (event_id) VALUES ($1) ON CONFLICT DO NOTHING', [eventId]);
  }
}
