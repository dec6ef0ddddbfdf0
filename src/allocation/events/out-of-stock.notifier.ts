import { Inject } from '@nestjs/common';
import { EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import { APP_CONFIG, type AppConfig } from '../../config/config.js';
import { ResilientHandler } from '../../messaging/resilient-handler.js';
import { OutOfStock } from '../domain/index.js';
import { Notifier } from '../notifications/notifier.js';

/** Tells the buying team that a SKU ran out. */
@EventsHandler(OutOfStock)
export class OutOfStockNotifier implements IEventHandler<OutOfStock> {
  constructor(
    private readonly notifier: Notifier,
    private readonly resilient: ResilientHandler,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  handle(event: OutOfStock): Promise<boolean> {
    return this.resilient.run(OutOfStockNotifier.name, event, () =>
      this.notifier.send(
        this.config.notifyTo,
        `Out of stock: ${event.sku}`,
        `An order line for sku ${event.sku} could not be allocated: no batch has enough stock.`,
      ),
    );
  }
}
