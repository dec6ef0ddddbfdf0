import { Inject, Injectable, Logger } from '@nestjs/common';
import { bulkhead } from 'cockatiel';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { activeSpanContext, contextOf, inSpan, markFailed, SpanKind, type SpanContext, startSpan } from '../tracing/trace-context.js';
import type { Delivered, DeliveryResult, Envelope, Event, StoredEvent } from './event.js';
import type { EventHandler } from './event-handler.js';
import { HandlerRegistry } from './handler-registry.js';
import { Metrics } from './metrics.js';
import { OutboxStore, type DeliveryRow, type RetryOutcome, type RetryRule } from './outbox.store.js';

/**
 * Runs every delivery of an event to a handler: the first one (from the EventBus, right after the commit,
 * or from the relay) and each retry. A failure is logged with the event and the handler, counted, and
 * stored in `event_deliveries` with its next attempt time (exponential back-off with jitter), so retries
 * survive restarts; after the last attempt it is a dead letter. Nothing is thrown: a failing handler never
 * reaches the command's caller, never undoes it, never ends a saga's stream.
 *
 * At most EVENT_DELIVERY_CONCURRENCY deliveries run at once; the others wait in memory, holding no
 * database connection, so that a burst (50,000 lines reallocated after a shrink) cannot starve requests.
 */
@Injectable()
export class DeliveryRunner {
  private readonly logger = new Logger('EventHandling');
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Callers of ready() waiting for room, first come first served. */
  private readonly waiting: (() => void)[] = [];
  /** Enough to fill a handler's batch (applyAll), few enough to stay a few hundred KB. */
  private readonly highWater: number;
  /** Deliveries waiting their turn, per (handler, SKU). */
  private readonly lanes = new Map<string, Queued<Event>[]>();
  private readonly slots;
  /** Told when a retry falls due sooner than the next poll (set by the relay). */
  onRetryScheduled: (delayMs: number) => void = () => undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly store: OutboxStore,
    private readonly metrics: Metrics,
    private readonly handlers: HandlerRegistry,
  ) {
    this.slots = bulkhead(config.eventDeliveryConcurrency, Number.MAX_SAFE_INTEGER);
    this.highWater = Math.max(256, config.eventDeliveryConcurrency * 8);
  }

  /**
   * The first delivery of an event to one of its handlers; reports the result to the event's tally.
   * Deliveries to one handler of events on one SKU run one after another, in order: they would only
   * contend for the same product (50,000 reallocations after a shrink). A handler with `applyAll` gets
   * the events that queued up meanwhile in one call (a failure is then stored for each of them).
   */
  deliver<E extends Event>(handler: EventHandler<E>, event: Delivered<E>): Promise<void> {
    const sku = (event as { sku?: unknown }).sku;
    if (typeof sku !== 'string') return this.track(this.attempt(handler, [event]));
    const lane = `${handler.handlerName}\u0000${sku}`;
    return this.track(
      new Promise<void>((done) => {
        const queue = this.lanes.get(lane) as Queued<E>[] | undefined;
        if (queue) return void queue.push({ event, done });
        this.lanes.set(lane, [{ event, done }]);
        void this.runLane(lane, handler);
      }),
    );
  }

  private async runLane<E extends Event>(lane: string, handler: EventHandler<E>): Promise<void> {
    const queue = this.lanes.get(lane) as Queued<E>[];
    while (queue.length > 0) {
      const batch = queue.splice(0, handler.applyAll ? handler.batchSize : 1);
      await this.attempt(handler, batch.map((q) => q.event));
      for (const q of batch) q.done();
    }
    this.lanes.delete(lane);
  }

  /** A stored delivery whose retry is due (from the relay), or a dead letter an operator retries (`manual`). */
  retry(row: DeliveryRow, { event, envelope }: StoredEvent, options: { manual?: boolean } = {}): Promise<boolean> {
    return this.track(this.retryOnce(row, event, envelope, options));
  }

  /**
   * Resolves once few enough deliveries are under way to start more: whoever starts deliveries in bulk
   * (the dispatcher) waits here, so that 50,000 events become a steady stream, not 50,000 queued promises.
   */
  async ready(): Promise<void> {
    // Woken when a delivery ends with room left (see track). Never a Promise.race over every delivery under
    // way: that attaches a reaction to each of them, per waiter, per wake-up, and under a load with many
    // waiters it filled the heap in seconds (seen here).
    while (this.inFlight.size >= this.highWater) await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  /** Waits for every delivery under way (shutdown, the relay's passes, tests). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Delay before attempt `attempts + 1`: exponential, capped, with jitter so that retries spread out. */
  backoff(attempts: number): number {
    const base = this.config.eventHandlerBackoffMs * 2 ** (attempts - 1);
    const capped = Math.min(base, this.config.eventHandlerBackoffMaxMs);
    return Math.round(capped / 2 + Math.random() * (capped / 2));
  }

  /** The first attempt of one event, or of several of one SKU together; each result goes to its event's tally. */
  private async attempt<E extends Event>(handler: EventHandler<E>, events: Delivered<E>[]): Promise<void> {
    const name = handler.handlerName;
    const together = events.length > 1 && handler.applyAll !== undefined;
    // The failure is logged and stored inside the delivery's span: its log lines and SQL belong to the trace.
    const outcome = await this.slots.execute(() =>
      traceDelivery(name, events, 1, async (fail) => {
        try {
          await (together ? handler.applyAll!(events) : handler.apply(events[0], events[0].envelope));
          return 'delivered';
        } catch (error) {
          fail(error);
          if (together) return 'batch failed';
          events[0].tally.report(name, await this.recordFirstFailure(name, events[0], error));
          return 'failed';
        }
      }),
    );
    if (outcome === 'batch failed') {
      // A batch that failed is tried one event at a time, so that one bad event fails alone.
      for (const event of events) await this.attempt(handler, [event]);
      return;
    }
    if (outcome === 'failed') return;
    for (const event of events) {
      this.metrics.handled.inc({ event: event.name, handler: name });
      event.tally.report(name, 'delivered');
    }
  }

  private async recordFirstFailure(handler: string, event: Delivered, error: unknown): Promise<DeliveryResult> {
    this.failed(handler, event, 1, error);
    try {
      const rule = this.rule(error, this.config.eventHandlerMaxAttempts);
      const outcome = await this.store.recordFailure(event.envelope.outboxId, handler, describe(error), rule);
      this.afterFailure(handler, event, outcome);
      return 'recorded';
    } catch (storeError) {
      this.logger.error({ msg: `could not record the failure of ${handler}; the relay will redeliver`, error: describe(storeError) });
      return 'unrecorded';
    }
  }

  /** Never rejects: a failure to store the outcome is logged, and the relay takes the delivery again later. */
  private async retryOnce(row: DeliveryRow, event: Event, envelope: Envelope, options: { manual?: boolean }): Promise<boolean> {
    const handler = this.handlers.handler(row.handler);
    const attempts = row.attempts + 1;
    // In the trace of the request that caused the event; an operator's retry also links to the operator's request.
    const operator = options.manual ? activeSpanContext() : undefined;
    return this.slots.execute(() =>
      traceDelivery(
        row.handler,
        [{ name: event.name, envelope }],
        attempts,
        async (fail) => {
          try {
            if (!handler) throw new Error(`no handler named ${row.handler} in this version`);
            await handler.apply(event, envelope);
          } catch (error) {
            fail(error);
            this.failed(row.handler, event, attempts, error);
            try {
              // A manual retry that fails leaves the dead letter where it was.
              const rule = this.rule(error, options.manual ? attempts : this.config.eventHandlerMaxAttempts);
              const outcome = await this.store.failed(row.delivery_id, attempts, describe(error), rule, options.manual);
              this.afterFailure(row.handler, event, outcome, options.manual);
            } catch (storeError) {
              this.logger.error({ msg: `could not record the failed retry of ${row.handler}; it is tried again after its lease`, error: describe(storeError) });
            }
            return false;
          }
          try {
            await this.store.succeeded(row.delivery_id, options.manual);
          } catch (storeError) {
            // Delivered, but still listed as due: it will be delivered again (handlers are idempotent).
            this.logger.error({ msg: `could not record the successful retry of ${row.handler}`, error: describe(storeError) });
          }
          this.metrics.handled.inc({ event: event.name, handler: row.handler });
          this.logger.log({ msg: `${row.handler} delivered ${event.name} on attempt ${attempts}`, handler: row.handler, event: event.name });
          return true;
        },
        operator,
      ),
    );
  }

  private rule(error: unknown, maxAttempts: number): RetryRule {
    return { maxAttempts, delayMs: (n) => this.backoff(n), permanent: isPermanent(error) };
  }

  private failed(handler: string, event: Event, attempt: number, error: unknown): void {
    this.metrics.failures.inc({ event: event.name, handler });
    this.logger.warn({ msg: `${handler} failed on ${event.name} (attempt ${attempt})`, handler, event: event.name, payload: payloadOf(event), attempt, error: describe(error) });
  }

  private afterFailure(handler: string, event: Event, outcome: RetryOutcome, manual = false): void {
    if (outcome.dead) {
      if (!manual) this.metrics.deadLetters.inc({ event: event.name, handler });
      this.logger.error({ msg: `${handler} gave up on ${event.name} after ${outcome.attempts} attempts: dead letter`, handler, event: event.name, payload: payloadOf(event) });
    } else {
      this.onRetryScheduled(outcome.delayMs);
    }
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.inFlight.add(promise);
    const settled = () => {
      this.inFlight.delete(promise);
      // Room again: every waiter looks (they are few: one per feed or reader), and waits again if it is gone.
      if (this.inFlight.size < this.highWater && this.waiting.length > 0) for (const wake of this.waiting.splice(0)) wake();
    };
    void promise.then(settled, settled);
    return promise;
  }
}

interface Queued<E extends Event> {
  event: Delivered<E>;
  done: () => void;
}

/**
 * An error that says a retry would fail the same way (`retryable === false`, as the domain's errors do:
 * the batch is unknown, the message is malformed) makes a dead letter at once.
 */
function isPermanent(error: unknown): boolean {
  return (error as { retryable?: unknown })?.retryable === false;
}

/**
 * One span per delivery of an event to a handler, in the trace of the work that recorded the event (its
 * stored traceparent): so a delivery made later, by a retry or by another instance's relay, joins the
 * request's trace. A handler given several events at once runs under the first one's span, which links to
 * the others' spans: each of those is in its own event's trace, for the same time (what the handler then
 * records, a Reallocate's Allocated events, belongs to the first one's trace). `work` marks them all
 * failed with `fail`.
 */
function traceDelivery<T>(
  handler: string,
  events: readonly { name: string; envelope: Envelope }[],
  attempt: number,
  work: (fail: (error: unknown) => void) => Promise<T>,
  link?: SpanContext,
): Promise<T> {
  const options = (event: { name: string; envelope: Envelope }, links: () => SpanContext[] = () => []) => ({
    kind: SpanKind.CONSUMER,
    parent: contextOf(event.envelope.traceparent),
    attributes: () => ({
      'messaging.system': 'outbox',
      'messaging.operation.type': 'process',
      'messaging.destination.name': event.name,
      'messaging.message.id': event.envelope.eventId,
      'allocation.handler': handler,
      'allocation.attempt': attempt,
    }),
    links: () => [...links(), ...(link ? [link] : [])].map((context) => ({ context })),
  });
  const name = (event: { name: string }) => `deliver ${event.name} to ${handler}`;
  const others = events.slice(1).map((event) => startSpan(name(event), options(event)));
  return inSpan(name(events[0]), options(events[0], () => others.map((o) => o.spanContext())), async (span) => {
    try {
      return await work((error) => {
        for (const s of [span, ...others]) markFailed(s, error);
      });
    } finally {
      for (const other of others) other.end();
    }
  });
}

/** The event's own data, for a log line (not the envelope and tally a delivered copy carries). */
function payloadOf(event: Event): Record<string, unknown> {
  const { envelope: _envelope, tally: _tally, ...data } = event as Event & Record<string, unknown>;
  return data;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
