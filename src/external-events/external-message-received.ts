import { DomainEvent } from '../allocation/domain/events.js';

/**
 * A message from another system, as received: stored in the outbox (acting as an inbox) before it is
 * processed, so that its processing is retried, dead-lettered and visible like any event handler's.
 */
export class ExternalMessageReceived extends DomainEvent {
  constructor(
    readonly channel: string,
    /** The message exactly as it arrived (it may not even be JSON). */
    readonly data: string,
  ) {
    super();
  }
}
