import { Injectable } from '@nestjs/common';
import { CommandBus, type ICommand, type IEvent, ofType, Saga } from '@nestjs/cqrs';
import { ignoreElements, mergeMap, type Observable } from 'rxjs';
import type { Delivered } from '../../messaging/event.js';
import { EventHandler } from '../../messaging/event-handler.js';
import { Allocate } from '../commands/allocate/allocate.command.js';
import { Reallocate } from '../commands/reallocate/reallocate.command.js';
import { Deallocated } from '../domain/index.js';

/**
 * A deallocated line is allocated again, to whichever batch now fits it. The saga runs the command inside
 * its own delivery (rather than emitting it for the EventBus to run), so that a failure is stored, retried
 * and counted, and can never end the saga's stream. Allocate is retry-safe: a redelivered Deallocated does
 * not allocate twice.
 */
@Injectable()
export class ReallocationSaga extends EventHandler<Deallocated> {
  readonly handlerName = 'ReallocationSaga'; // also named in TypeOrmProductRepository.awaitingReallocation

  constructor(private readonly commandBus: CommandBus) {
    super();
  }

  @Saga()
  reallocate = (events$: Observable<IEvent>): Observable<ICommand> =>
    events$.pipe(
      ofType(Deallocated),
      mergeMap((event) => this.handle(event as Delivered<Deallocated>)),
      ignoreElements(),
    );

  async apply({ orderid, sku, qty }: Deallocated): Promise<void> {
    await this.commandBus.execute(new Allocate(orderid, sku, qty));
  }

  /** Lines of one SKU that queued up together (a big shrink) are allocated again in one unit of work. */
  readonly batchSize = 50;
  async applyAll(events: Deallocated[]): Promise<void> {
    await this.commandBus.execute(new Reallocate(events[0].sku, events.map(({ orderid, qty }) => ({ orderid, qty }))));
  }
}
