import type { StoredEvent } from './event.js';

/** Where a unit of work hands its committed events (the outbox dispatcher; a test may stand in). */
export abstract class EventPublisher {
  /** Starts every handler of every event, without waiting for them to finish. */
  abstract publish(events: readonly StoredEvent[]): Promise<void>;
}
