import { Injectable } from '@nestjs/common';
import { CommandBus, type ICommand, type IEvent, ofType, Saga } from '@nestjs/cqrs';
import { ignoreElements, mergeMap, type Observable } from 'rxjs';
import { ResilientHandler } from '../../messaging/resilient-handler.js';
import { Allocate } from '../commands/allocate/allocate.command.js';
import { Deallocated } from '../domain/index.js';

/**
 * A deallocated line is allocated again, to whichever batch now fits it. The saga runs the command itself
 * inside the resilient wrapper (rather than emitting it for the EventBus to run) so that a failure is
 * retried and counted, and can never end the saga's stream.
 */
@Injectable()
export class ReallocationSaga {
  constructor(
    private readonly commandBus: CommandBus,
    private readonly resilient: ResilientHandler,
  ) {}

  @Saga()
  reallocate = (events$: Observable<IEvent>): Observable<ICommand> =>
    events$.pipe(
      ofType(Deallocated),
      mergeMap((event) =>
        this.resilient.run(ReallocationSaga.name, event, () =>
          this.commandBus.execute(new Allocate(event.orderid, event.sku, event.qty)),
        ),
      ),
      ignoreElements(),
    );
}
