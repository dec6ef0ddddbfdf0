import { EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import { DataSource } from 'typeorm';
import { ReadModelDeliveries } from '../../messaging/read-model-deliveries.js';
import { ResilientHandler } from '../../messaging/resilient-handler.js';
import { Allocated, Deallocated } from '../domain/index.js';

/** Keeps `allocations_view` (GET /allocations/{orderid}); idempotent, so a repeated delivery changes nothing. */
@EventsHandler(Allocated, Deallocated)
export class AllocationsViewProjector implements IEventHandler<Allocated | Deallocated> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly resilient: ResilientHandler,
    private readonly readModel: ReadModelDeliveries,
  ) {}

  handle(event: Allocated | Deallocated): Promise<boolean> {
    const delivery = this.resilient.run(AllocationsViewProjector.name, event, () => this.project(event));
    this.readModel.started(delivery);
    return delivery;
  }

  private async project(event: Allocated | Deallocated): Promise<void> {
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
