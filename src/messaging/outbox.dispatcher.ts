import { type BeforeApplicationShutdown, Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { EventBus } from '@nestjs/cqrs';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { withRequestId } from '../logging/request-context.js';
import { background } from '../tracing/trace-context.js';
import { DeliveryRunner } from './delivery-runner.js';
import { delivered, type StoredEvent } from './event.js';
import { HandlerRegistry } from './handler-registry.js';
import { EventPublisher } from './event-publisher.js';
import { OutboxStore } from './outbox.store.js';

/**
 * Hands committed events to their handlers at once, through the EventBus, and marks each dispatched in
 * the outbox once every handler EVENT_HANDLERS lists for it has either succeeded or had its failure stored
 * (the event's tally says so). Marks are batched: one UPDATE for all events settled within a few ms.
 * A burst of events (a shrink that deallocates 50,000 lines) is fed to the handlers as fast as they keep
 * up (DeliveryRunner.ready), without holding up the command that raised it; while this instance still
 * holds events it renews their lease (every half lease), or a relay would deliver them a second time.
 */
@Injectable()
export class OutboxDispatcher extends EventPublisher implements OnModuleDestroy, BeforeApplicationShutdown {
  private readonly logger = new Logger('Outbox');
  private pendingMarks: string[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly feeding = new Set<Promise<void>>();
  private stopping = false;
  /** Outbox ids of the events handed over and not yet settled. */
  private readonly held = new Set<string>();
  private renewTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly eventBus: EventBus,
    private readonly handlers: HandlerRegistry,
    private readonly runner: DeliveryRunner,
    private readonly store: OutboxStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  /** Starts feeding the events to their handlers, and returns without waiting for them. */
  async publish(events: readonly StoredEvent[]): Promise<void> {
    void this.dispatch(events);
  }

  /** Like publish, but resolves once each of these events has been delivered or had its failure stored. */
  dispatch(events: readonly StoredEvent[]): Promise<void> {
    // Once the shutdown has begun nothing more is handed over: a relay delivers these after their lease.
    if (this.stopping) return Promise.resolve();
    for (const { envelope } of events) this.held.add(envelope.outboxId);
    this.renewWhileHolding();
    const feed = this.feed(events).catch((error: Error) => {
      this.logger.error({ msg: 'dispatch failed; a relay will deliver the rest', error: error.message });
    });
    this.feeding.add(feed);
    void feed.finally(() => this.feeding.delete(feed));
    return feed;
  }

  /** Resolves once every event handed over so far has been delivered (or its failure stored). */
  async idle(): Promise<void> {
    while (this.feeding.size > 0) await Promise.allSettled([...this.feeding]);
    await this.runner.drain();
  }

  private async feed(events: readonly StoredEvent[]): Promise<void> {
    const settled: Promise<unknown>[] = [];
    let i = 0;
    try {
      for (; i < events.length; i++) {
        await this.runner.ready();
        // At shutdown, what is not started stays undispatched: a relay delivers it once its lease runs out.
        if (this.stopping) break;
        const stored = events[i];
        const event = delivered(stored, this.handlers.namesFor(stored.event.name));
        // Handlers run under the request that caused the event: their log lines carry its id.
        withRequestId(stored.envelope.requestId, () => this.eventBus.publish(event));
        settled.push(
          event.tally.all.then((results) => {
            this.held.delete(stored.envelope.outboxId);
            // An unstored failure leaves the event undispatched: the relay delivers it again after the lease.
            if (results.every((r) => r !== 'unrecorded')) this.markDispatched(stored.envelope.outboxId);
          }),
        );
      }
    } finally {
      // What was not handed over is released, so that its lease runs out.
      for (const { envelope } of events.slice(i)) this.held.delete(envelope.outboxId);
    }
    await Promise.all(settled);
  }

  private renewWhileHolding(): void {
    if (this.renewTimer) return;
    this.renewTimer = background(() => setInterval(() => {
      if (this.held.size === 0) {
        clearInterval(this.renewTimer);
        this.renewTimer = undefined;
        return;
      }
      this.store.renewLeases([...this.held], this.config.outboxLeaseMs).catch((error: Error) => {
        // Not lost: a relay may deliver those events a second time (handlers are idempotent).
        this.logger.warn({ msg: `could not renew the lease of ${this.held.size} events`, error: error.message });
      });
    }, this.config.outboxLeaseMs / 2));
    this.renewTimer.unref();
  }

  private markDispatched(id: string): void {
    this.pendingMarks.push(id);
    // Marks of many requests' events go in one statement: under none of them.
    if (this.pendingMarks.length >= 500) void background(() => this.flush());
    else this.flushTimer ??= background(() => setTimeout(() => void this.flush(), 5));
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

  /**
   * The shutdown's first step. The EventBus's handlers unsubscribe in its own onModuleDestroy (CqrsModule is
   * global, so its hooks run after this module's): an event published after that would reach no handler,
   * and its feed would wait for it forever, holding up the shutdown. So the feeds stop here.
   */
  onModuleDestroy(): void {
    this.stopping = true;
  }

  /** Before connections close: let deliveries under way finish (or store their failure), then mark them. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.idle();
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    await this.flush();
  }
}
