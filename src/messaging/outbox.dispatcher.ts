import { type BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { EventBus } from '@nestjs/cqrs';
import { withRequestId } from '../logging/request-context.js';
import { DeliveryRunner } from './delivery-runner.js';
import { delivered, type StoredEvent } from './event.js';
import { EventHandlers } from './event-handlers.js';
import { EventPublisher } from './event-publisher.js';
import { OutboxStore } from './outbox.store.js';

/**
 * Hands committed events to their handlers at once, through the EventBus, and marks each dispatched in
 * the outbox once every handler EVENT_HANDLERS lists for it has either succeeded or had its failure stored
 * (the event's tally says so). Marks are batched: one UPDATE for all events settled within a few ms.
 * A burst of events (a shrink that deallocates 50,000 lines) is fed to the handlers as fast as they keep
 * up (DeliveryRunner.ready), without holding up the command that raised it.
 */
@Injectable()
export class OutboxDispatcher extends EventPublisher implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Outbox');
  private pendingMarks: string[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly feeding = new Set<Promise<void>>();
  private stopping = false;

  constructor(
    private readonly eventBus: EventBus,
    private readonly handlers: EventHandlers,
    private readonly runner: DeliveryRunner,
    private readonly store: OutboxStore,
  ) {
    super();
  }

  /** Starts feeding the events to their handlers, and returns without waiting for them. */
  async publish(events: readonly StoredEvent[]): Promise<void> {
    const feed = this.feed(events).catch((error: Error) => this.logger.error({ msg: 'dispatch failed; the relay will deliver', error: error.message }));
    this.feeding.add(feed);
    void feed.finally(() => this.feeding.delete(feed));
  }

  /** Resolves once every event handed over so far has been delivered (or its failure stored). */
  async idle(): Promise<void> {
    while (this.feeding.size > 0) await Promise.allSettled([...this.feeding]);
    await this.runner.drain();
  }

  private async feed(events: readonly StoredEvent[]): Promise<void> {
    for (const stored of events) {
      // At shutdown, what is not started stays undispatched: a relay delivers it once its lease runs out.
      if (this.stopping) return;
      await this.runner.ready();
      const event = delivered(stored, this.handlers.namesFor(stored.event.name));
      // Handlers run under the request that caused the event: their log lines carry its id.
      withRequestId(stored.envelope.requestId, () => this.eventBus.publish(event));
      void event.tally.all.then((results) => {
        // An unstored failure leaves the event undispatched: the relay delivers it again after the lease.
        if (results.every((r) => r !== 'unrecorded')) this.markDispatched(stored.envelope.outboxId);
      });
    }
  }

  private markDispatched(id: string): void {
    this.pendingMarks.push(id);
    if (this.pendingMarks.length >= 500) void this.flush();
    else this.flushTimer ??= setTimeout(() => void this.flush(), 5);
  }

  /** Writes the pending marks; resolves when every mark so far is written (or has failed). */
  flush(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const ids = this.pendingMarks;
    this.pendingMarks = [];
    if (ids.length > 0) {
      this.flushing = this.flushing.then(() =>
        this.store.markDispatched(ids).catch((error: Error) => {
          // Not lost: those events are delivered again by the relay (handlers are idempotent).
          this.logger.warn({ msg: `could not mark ${ids.length} events dispatched`, error: error.message });
        }),
      );
    }
    return this.flushing;
  }

  /** Before connections close: let deliveries under way finish (or store their failure), then mark them. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.idle();
    await this.flush();
  }
}
