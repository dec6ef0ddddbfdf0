import { EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import { DataSource } from 'typeorm';
import { DeliveryRunner } from '../../messaging/delivery-runner.js';
import type { DurableHandler } from '../../messaging/durable-handler.js';
import { Allocated, Deallocated } from '../domain/index.js';

/** Keeps `allocations_view` (GET /allocations/{orderid}); idempotent, so a repeated delivery changes nothing. */
@EventsHandler(Allocated, Deallocated)
export class AllocationsViewProjector implements IEventHandler<Allocated | Deallocated>, DurableHandler<Allocated | Deallocated> {
  readonly handlerName = 'AllocationsViewProjector';
  readonly servesReads = true;

  constructor(
    private readonly dataSource: DataSource,
    private readonly runner: DeliveryRunner,
  ) {
    runner.register(this);
  }

  handle(event: Allocated | Deallocated): Promise<unknown> {
    return this.runner.run(this, event);
  }

  async deliver(event: Allocated | Deallocated): Promise<void> {
    if (event instanceof Allocated) {
      await this.dataSource.query(
        `INSERT INTO allocations_view (orderid, sku, batch_reference) VALUES ($1, $2, $3)
         ON CONFLICT (orderid, sku) DO UPDATE SET batch_reference = EXCLUDED.batch_reference`,
        [event.orderid, event.sku, event.batchref],
      );
    } else {
      // Only if the line is still shown in the batch it left: a reallocation may already have moved it.
      await this.dataSource.query(
        'DELETE FROM allocations_view WHERE orderid = $1 AND sku = $2 AND batch_reference = $3',
        [event.orderid, event.sku, event.batchref],
      );
    }
  }
}
