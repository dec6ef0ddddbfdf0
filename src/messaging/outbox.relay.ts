import { type BeforeApplicationShutdown, Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { withRequestId } from '../logging/request-context.js';
import { background } from '../tracing/trace-context.js';
import { DeliveryRunner } from './delivery-runner.js';
import { OutboxDispatcher } from './outbox.dispatcher.js';
import type { StoredEvent } from './event.js';
import { type OutboxRow, storedEventFromRow } from './event-codec.js';
import { HandlerRegistry } from './handler-registry.js';
import { OutboxStore } from './outbox.store.js';

const BATCH = 100;

/**
 * Delivers what the in-process dispatch did not: events left undispatched by a crash (at start-up, then
 * whenever their lease runs out) and failed deliveries whose retry is due. Every instance runs one; rows
 * are claimed with FOR UPDATE SKIP LOCKED and a lease, so no two instances deliver the same thing at once.
 * It also prunes old dispatched events.
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('OutboxRelay');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private lastPrune = 0;
  private nextRun = 0;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly store: OutboxStore,
    private readonly runner: DeliveryRunner,
    private readonly dispatcher: OutboxDispatcher,
    private readonly handlers: HandlerRegistry,
  ) {}

  onApplicationBootstrap(): void {
    this.runner.onRetryScheduled = (delayMs) => this.wakeIn(delayMs);
    this.wakeIn(0); // at start: whatever a crashed instance left behind
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** Runs one pass now (or right after the one under way); resolves when it is done. */
  private runOnce(): Promise<void> {
    const next = (this.running ?? Promise.resolve()).catch(() => undefined).then(() => this.pass());
    const tracked = next.finally(() => {
      if (this.running === tracked) this.running = undefined;
    });
    this.running = tracked;
    return tracked;
  }

  private wakeIn(delayMs: number): void {
    if (this.stopped) return;
    const due = Date.now() + delayMs;
    if (this.timer && this.nextRun <= due) return;
    if (this.timer) clearTimeout(this.timer);
    this.nextRun = due;
    // Woken by a delivery under some request: the pass must not run (and log, and query) under it.
    this.timer = background(() =>
      setTimeout(() => {
        this.timer = undefined;
        void this.runOnce()
          .catch((error: Error) => this.logger.warn({ msg: 'relay pass failed', error: error.message }))
          .finally(() => this.wakeIn(this.config.outboxPollMs));
      }, delayMs),
    );
    this.timer.unref();
  }

  /**
   * Rows as events; a row no event class of this version matches (a renamed or removed event) is logged
   * and skipped, so that it cannot hold up the others. It stays in the outbox, undispatched and visible.
   */
  private decode<R extends OutboxRow>(rows: R[]): StoredEvent[] {
    return rows.flatMap((row) => {
      try {
        return [storedEventFromRow(row, (name) => this.handlers.eventClass(name))];
      } catch (error) {
        this.logger.error({ msg: `outbox row ${row.id} cannot be read: ${(error as Error).message}`, event: row.name });
        return [];
      }
    });
  }

  private async pass(): Promise<void> {
    for (;;) {
      const undispatched = await this.store.claimUndispatched(BATCH, this.config.outboxLeaseMs);
      if (undispatched.length > 0) {
        this.logger.log({ msg: `relaying ${undispatched.length} undispatched events` });
        // Only its own events are awaited: a burst under way elsewhere in this process does not hold the relay.
        await this.dispatcher.dispatch(this.decode(undispatched));
        await this.dispatcher.flush();
      }
      const due = await this.store.claimDue(BATCH, this.config.outboxLeaseMs);
      for (const row of due) {
        // At shutdown the rest wait for their lease to run out, and any instance retries them then.
        if (this.stopped) break;
        const [stored] = this.decode([row]);
        if (stored) await withRequestId(row.request_id ?? undefined, () => this.runner.retry(row, stored));
      }
      if (this.stopped || (undispatched.length < BATCH && due.length < BATCH)) break;
    }
    if (Date.now() - this.lastPrune > this.config.outboxPruneIntervalMs) {
      this.lastPrune = Date.now();
      const pruned = await this.store.prune(this.config.outboxRetentionMs);
      if (pruned > 0) this.logger.log({ msg: `pruned ${pruned} dispatched events` });
    }
  }
}
