import type { Event, StoredEvent } from '../../src/messaging/event.js';
import { EventPublisher } from '../../src/messaging/event-publisher.js';

/** Stands in for the outbox dispatcher: keeps the events a unit of work publishes after its commit. */
export class RecordingPublisher extends EventPublisher {
  readonly stored: StoredEvent[] = [];

  get events(): Event[] {
    return this.stored.map((s) => s.event);
  }

  async publish(events: readonly StoredEvent[]): Promise<void> {
    this.stored.push(...events);
  }
}
