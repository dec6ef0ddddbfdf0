import { type BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { EventBus } from '@nestjs/cqrs';
import type { DomainEvent } from '../allocation/domain/index.js';
import { EventPublisher } from '../allocation/persistence/unit-of-work.js';
import { withRequestId } from '../logging/request-context.js';
import { DeliveryRunner } from './delivery-runner.js';
import { envelopeOf } from './event-codec.js';
import { OutboxStore } from './outbox.store.js';

/**
 * Dispatches committed events to the EventBus at once (no added latency), and marks them dispatched in
 * the outbox once every handler has either succeeded or had its failure stored. Marks are batched: one
 * UPDATE for all events dispatched within a few milliseconds.
 */
@Injectable()
export class OutboxDispatcher extends EventPublisher implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Outbox');
  private pendingMarks: string[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly eventBus: EventBus,
    private readonly runner: DeliveryRunner,
    private readonly store: OutboxStore,
  ) {
    super();
  }

  /**
   * Starts every handler of every event, and returns without waiting for them: what the API reads was
   * projected in the command's own write.
   */
  async publish(events: readonly DomainEvent[]): Promise<void> {
    for (const event of events) {
      const envelope = envelopeOf(event);
      const { deliveries } = withRequestId(envelope?.requestId, () => this.runner.collect(() => this.eventBus.publish(event)));
      if (envelope) {
        void Promise.all(deliveries).then((results) => {
          // An unstored failure leaves the event undispatched: the relay delivers it again after the lease.
          if (results.every((r) => r !== 'unrecorded')) this.markDispatched(envelope.outboxId);
        });
      }
    }
  }

  private markDispatched(id: string): void {
    this.pendingMarks.push(id);
    if (this.pendingMarks.length >= 500) this.flush();
    else this.flushTimer ??= setTimeout(() => this.flush(), 5);
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
    await this.runner.drain();
    await this.flush();
  }
}
