import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { withRequestId } from '../logging/request-context.js';
import { DeliveryRunner } from '../messaging/delivery-runner.js';
import { storedEventFromRow } from '../messaging/event-codec.js';
import { HandlerRegistry } from '../messaging/handler-registry.js';
import { type DeadLetterFilter, type DeliveryRow, OutboxStore } from '../messaging/outbox.store.js';

/** Dead letters retried at once by a bulk retry: each batch runs (within EVENT_DELIVERY_CONCURRENCY) before the next is taken. */
const BATCH = 50;

/** What operators do to dead letters: retry one or every one a filter matches. */
@Injectable()
export class DeadLetterOperations {
  private readonly logger = new Logger('DeadLetters');

  constructor(
    private readonly store: OutboxStore,
    private readonly runner: DeliveryRunner,
    private readonly handlers: HandlerRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Runs a claimed dead letter's handler again; true if it succeeded. Recorded in the letter's history. */
  async retry(row: DeliveryRow): Promise<boolean> {
    const stored = storedEventFromRow(row, (name) => this.handlers.eventClass(name));
    return withRequestId(row.request_id ?? undefined, () => this.runner.retry(row, stored, { manual: true }));
  }

  /**
   * Retries every dead letter the filter matches, in batches, in id order: each is tried once (one that
   * fails again stays a dead letter, and is not taken twice). Letters another operator is retrying at the
   * same moment are left to them: `matched` may exceed `delivered + failed`.
   */
  async retryMatching(filter: DeadLetterFilter): Promise<{ matched: number; delivered: number; failed: number }> {
    const matched = await this.store.countDead(filter);
    let [delivered, failed, afterId] = [0, 0, '0'];
    for (;;) {
      const rows = await this.store.claimDeadBatch(filter, afterId, BATCH, this.config.outboxLeaseMs);
      if (rows.length === 0) break;
      afterId = rows.at(-1)!.delivery_id;
      // One letter that cannot even be rebuilt (an event this version does not know) fails alone.
      const results = await Promise.all(rows.map((row) => this.retry(row).catch(() => false)));
      delivered += results.filter(Boolean).length;
      failed += results.filter((ok) => !ok).length;
    }
    this.logger.log({ msg: `bulk retry of dead letters: ${matched} matched, ${delivered} delivered, ${failed} failed`, filter });
    return { matched, delivered, failed };
  }
}
