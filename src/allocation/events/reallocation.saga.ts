import { Injectable } from '@nestjs/common';
import { CommandBus, type ICommand, type IEvent, ofType, Saga } from '@nestjs/cqrs';
import { ignoreElements, mergeMap, type Observable } from 'rxjs';
import { DeliveryRunner } from '../../messaging/delivery-runner.js';
import type { DurableHandler } from '../../messaging/durable-handler.js';
import { Allocate } from '../commands/allocate/allocate.command.js';
import { Deallocated } from '../domain/index.js';

/**
 * A deallocated line is allocated again, to whichever batch now fits it. The saga runs the command itself
 * inside the delivery runner (rather than emitting it for the EventBus to run) so that a failure is
 * stored, retried and counted, and can never end the saga's stream. Allocate is retry-safe, so a
 * redelivered Deallocated does not allocate twice.
 */
@Injectable()
export class ReallocationSaga implements DurableHandler<Deallocated> {
  readonly handlerName = 'ReallocationSaga';

  constructor(
    private readonly commandBus: CommandBus,
    private readonly runner: DeliveryRunner,
  ) {
    runner.register(this);
  }

  @Saga()
  reallocate = (events$: Observable<IEvent>): Observable<ICommand> =>
    events$.pipe(
      ofType(Deallocated),
      mergeMap((event) => this.runner.run(this, event)),
      ignoreElements(),
    );

  async deliver(event: Deallocated): Promise<void> {
    await this.commandBus.execute(new Allocate(event.orderid, event.sku, event.qty));
  }
}
