import { EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import { DataSource } from 'typeorm';
import { preparedPoolQuery } from '../../database/prepared.js';
import { DeliveryRunner } from '../../messaging/delivery-runner.js';
import type { DurableHandler } from '../../messaging/durable-handler.js';
import { Allocated, Deallocated } from '../domain/index.js';

/**
 * Keeps `allocations_view` (GET /allocations/{orderid}). Applied inside the command's own write, so a line
 * shows as soon as its 202 is sent; `deliver` does the same for an event delivered again (by the relay,
 * or a retry) and is idempotent: a repeated delivery changes nothing.
 */
@EventsHandler(Allocated, Deallocated)
export class AllocationsViewProjector implements IEventHandler<Allocated | Deallocated>, DurableHandler<Allocated | Deallocated> {
  readonly handlerName = 'AllocationsViewProjector';

  constructor(
    private readonly dataSource: DataSource,
    private readonly runner: DeliveryRunner,
  ) {
    runner.register(this);
  }

  handle(event: Allocated | Deallocated): Promise<unknown> {
    return this.runner.run(this, event);
  }

  inTransaction(event: Allocated | Deallocated, param: (value: unknown) => string, gate?: string): string | undefined {
    const and = gate ? `AND ${gate}` : '';
    if (event instanceof Allocated) {
      return `INSERT INTO allocations_view (orderid, sku, batch_reference)
              SELECT ${param(event.orderid)}::varchar, ${param(event.sku)}::varchar, ${param(event.batchref)}::varchar WHERE true ${and}
              ON CONFLICT (orderid, sku) DO UPDATE SET batch_reference = EXCLUDED.batch_reference`;
    }
    if (event instanceof Deallocated) {
      return `DELETE FROM allocations_view
               WHERE orderid = ${param(event.orderid)} AND sku = ${param(event.sku)} AND batch_reference = ${param(event.batchref)} ${and}`;
    }
    return undefined;
  }

  async deliver(event: Allocated | Deallocated): Promise<void> {
    if (event instanceof Allocated) {
      await preparedPoolQuery(
        this.dataSource,
        `INSERT INTO allocations_view (orderid, sku, batch_reference) VALUES ($1, $2, $3)
         ON CONFLICT (orderid, sku) DO UPDATE SET batch_reference = EXCLUDED.batch_reference`,
        [event.orderid, event.sku, event.batchref],
      );
    } else {
      // Only if the line is still shown in the batch it left: a reallocation may already have moved it.
      await preparedPoolQuery(
        this.dataSource,
        'DELETE FROM allocations_view WHERE orderid = $1 AND sku = $2 AND batch_reference = $3',
        [event.orderid, event.sku, event.batchref],
      );
    }
  }
}
