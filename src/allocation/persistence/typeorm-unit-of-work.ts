import { Inject, Injectable } from '@nestjs/common';
import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../../config/config.js';
import { asTemporarilyUnavailable, isConflict } from '../../database/database-errors.js';
import { UnitStatements } from '../../database/unit-statements.js';
import { currentRequestId } from '../../logging/request-context.js';
import type { StoredEvent } from '../../messaging/event.js';
import { EventPublisher } from '../../messaging/event-publisher.js';
import { currentTraceparent } from '../../tracing/trace-context.js';
import { type ReadMode, TypeOrmProductRepository } from './product.repository.js';
import { type Contention, type ProductRepository, UnitOfWork } from './unit-of-work.js';

@Injectable()
export class TypeOrmUnitOfWork extends UnitOfWork {
  private readonly conflictRetry;

  constructor(
    private readonly dataSource: DataSource,
    private readonly events: EventPublisher,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
    // The whole command is re-run on a lost race, with jittered exponential back-off, a bounded number of times.
    this.conflictRetry = retry(handleWhen(isConflict), {
      maxAttempts: config.commandMaxAttempts - 1,
      backoff: new ExponentialBackoff({ initialDelay: 5, maxDelay: 200 }),
    });
  }

  /**
   * The first attempt is optimistic: one read, one write that checks the version (2 round trips, no
   * transaction needed: the write is one statement). If it lost a race, the command runs again in a
   * transaction that first locks the product row, so it cannot lose again to another locking attempt;
   * after COMMAND_MAX_ATTEMPTS it gives up with a 503. A caller that knows its products to be contended
   * (`contention.lockFirst`) skips the optimistic attempt.
   */
  async run<T>(work: (products: ProductRepository) => Promise<T>, contention: Contention = {}): Promise<T> {
    let outcome: { result: T; events: StoredEvent[] };
    try {
      outcome = await this.conflictRetry.execute(({ attempt }) => {
        if (attempt > 0) contention.onLostRace?.();
        return this.once(work, attempt === 0 && !contention.lockFirst ? 'optimistic' : 'locking');
      });
    } catch (error) {
      throw asTemporarilyUnavailable(error) ?? error;
    }
    // Only after the commit: a rolled-back command publishes nothing. The events are already in the
    // outbox, so none is lost if the process dies here.
    if (outcome.events.length > 0) await this.events.publish(outcome.events);
    return outcome.result;
  }

  private async once<T>(work: (products: ProductRepository) => Promise<T>, mode: ReadMode): Promise<{ result: T; events: StoredEvent[] }> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    const sql = new UnitStatements(runner, mode === 'locking');
    try {
      const products = new TypeOrmProductRepository(sql, mode);
      const result = await work(products);
      // Saving commits (a locking unit's transaction).
      const events = await products.save({ origin: { requestId: currentRequestId(), traceparent: currentTraceparent() }, leaseMs: this.config.outboxLeaseMs });
      return { result, events };
    } catch (error) {
      await sql.abandon().catch(() => undefined);
      throw error;
    } finally {
      await runner.release();
    }
  }
}
