import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { DomainError } from '../allocation/domain/errors.js';
import type { DomainEvent } from '../allocation/domain/index.js';
import type { DurableHandler } from './durable-handler.js';
import { envelopeOf } from './event-codec.js';
import { Metrics } from './metrics.js';
import { OutboxStore, type DeliveryRow, type RetryOutcome, type RetryRule } from './outbox.store.js';

export type DeliveryResult =
  /** The handler succeeded. */
  | 'delivered'
  /** It failed, and the failure is stored: the relay retries it, or it is a dead letter. */
  | 'recorded'
  /** It failed and the failure could not be stored: the event stays undispatched for the relay. */
  | 'unrecorded';

interface Capture {
  deliveries: Promise<DeliveryResult>[];
}

/**
 * Runs every event handler and every command a saga starts. A failure is logged with the event and the
 * handler, counted, and stored with its next attempt time (exponential back-off with jitter) in the
 * database, so retries survive restarts; after the last attempt it is a dead letter. Nothing is thrown:
 * a failing handler never reaches the command's caller, never undoes it, never ends a saga's stream.
 */
@Injectable()
export class DeliveryRunner {
  private readonly logger = new Logger('EventHandling');
  private readonly handlers = new Map<string, DurableHandler>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private capture: Capture | undefined;
  /** Told when a retry falls due sooner than the next poll (set by the relay). */
  onRetryScheduled: (delayMs: number) => void = () => undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly store: OutboxStore,
    private readonly metrics: Metrics,
  ) {}

  /** The handlers that apply (part of) their effect inside the command's own write. */
  transactional(): DurableHandler[] {
    return [...this.handlers.values()].filter((h) => h.inTransaction);
  }

  register(handler: DurableHandler): void {
    if (this.handlers.has(handler.handlerName)) throw new Error(`two event handlers named ${handler.handlerName}`);
    this.handlers.set(handler.handlerName, handler);
  }

  /** First delivery of an event to one handler (from the EventBus). */
  run(handler: DurableHandler, event: DomainEvent): Promise<DeliveryResult> {
    const delivery = envelopeOf(event)?.appliedInTransaction?.includes(handler.handlerName)
      ? this.alreadyApplied(handler, event)
      : this.track(this.firstAttempt(handler, event));
    this.capture?.deliveries.push(delivery);
    return delivery;
  }

  /**
   * Collects the deliveries that `publish` starts: the EventBus calls handlers (and saga operators)
   * synchronously while publishing, so each delivery is pushed here before `publish` returns.
   */
  collect(publish: () => void): Capture {
    const outer = this.capture;
    const capture: Capture = { deliveries: [] };
    this.capture = capture;
    try {
      publish();
    } finally {
      this.capture = outer;
    }
    return capture;
  }

  /** A stored delivery whose retry is due (from the relay or the admin endpoint). */
  retry(row: DeliveryRow, event: DomainEvent, options: { manual?: boolean } = {}): Promise<boolean> {
    return this.track(this.retryOnce(row, event, options));
  }

  private async retryOnce(row: DeliveryRow, event: DomainEvent, options: { manual?: boolean }): Promise<boolean> {
    const handler = this.handlers.get(row.handler);
    const attempts = row.attempts + 1;
    try {
      if (!handler) throw new Error(`no handler named ${row.handler} in this version`);
      await handler.deliver(event);
    } catch (error) {
      this.failed(row.handler, event, attempts, error);
      // A manual retry that fails leaves the dead letter where it was.
      const rule = this.rule(error, options.manual ? attempts : this.config.eventHandlerMaxAttempts);
      const outcome = await this.store.failed(row.delivery_id, attempts, describe(error), rule);
      this.afterFailure(row.handler, event, outcome, options.manual);
      return false;
    }
    await this.store.succeeded(row.delivery_id);
    this.metrics.handled.inc({ event: event.name, handler: row.handler });
    if (row.attempts > 0) this.logger.log({ msg: `${row.handler} delivered ${event.name} on attempt ${attempts}`, handler: row.handler, event: event.name });
    return true;
  }

  /** Waits for every delivery under way (shutdown, tests). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Delay before attempt `attempts + 1`: exponential, capped, with jitter so that retries spread out. */
  backoff(attempts: number): number {
    const base = this.config.eventHandlerBackoffMs * 2 ** (attempts - 1);
    const capped = Math.min(base, this.config.eventHandlerBackoffMaxMs);
    return Math.round(capped / 2 + Math.random() * (capped / 2));
  }

  private async alreadyApplied(handler: DurableHandler, event: DomainEvent): Promise<DeliveryResult> {
    this.metrics.handled.inc({ event: event.name, handler: handler.handlerName });
    return 'delivered';
  }

  private async firstAttempt(handler: DurableHandler, event: DomainEvent): Promise<DeliveryResult> {
    try {
      await handler.deliver(event);
      this.metrics.handled.inc({ event: event.name, handler: handler.handlerName });
      return 'delivered';
    } catch (error) {
      this.failed(handler.handlerName, event, 1, error);
      const envelope = envelopeOf(event);
      if (!envelope) return 'unrecorded';
      try {
        const outcome = await this.store.recordFailure(
          envelope.outboxId,
          handler.handlerName,
          describe(error),
          this.rule(error, this.config.eventHandlerMaxAttempts),
        );
        this.afterFailure(handler.handlerName, event, outcome);
        return 'recorded';
      } catch (storeError) {
        this.logger.error({ msg: `could not record the failure of ${handler.handlerName}; the relay will redeliver`, error: describe(storeError) });
        return 'unrecorded';
      }
    }
  }

  private rule(error: unknown, maxAttempts: number): RetryRule {
    return { maxAttempts, delayMs: (n) => this.backoff(n), permanent: isPermanent(error) };
  }

  private failed(handler: string, event: DomainEvent, attempt: number, error: unknown): void {
    this.metrics.failures.inc({ event: event.name, handler });
    this.logger.warn({ msg: `${handler} failed on ${event.name} (attempt ${attempt})`, handler, event: event.name, payload: { ...event }, attempt, error: describe(error) });
  }

  private afterFailure(handler: string, event: DomainEvent, outcome: RetryOutcome, manual = false): void {
    if (outcome.dead) {
      if (!manual) this.metrics.deadLetters.inc({ event: event.name, handler });
      this.logger.error({ msg: `${handler} gave up on ${event.name} after ${outcome.attempts} attempts: dead letter`, handler, event: event.name, payload: { ...event } });
    } else {
      this.onRetryScheduled(outcome.delayMs);
    }
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.inFlight.add(promise);
    void promise.finally(() => this.inFlight.delete(promise));
    return promise;
  }
}

/** A domain error will not pass on a retry (e.g. the batch is gone): it is a dead letter at once. */
function isPermanent(error: unknown): boolean {
  return error instanceof DomainError;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
