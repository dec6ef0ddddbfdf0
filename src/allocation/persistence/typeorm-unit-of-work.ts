import { Inject, Injectable } from '@nestjs/common';
import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../../config/config.js';
import { asTemporarilyUnavailable, isConflict } from '../../database/database-errors.js';
import { currentRequestId } from '../../logging/request-context.js';
import { DeliveryRunner } from '../../messaging/delivery-runner.js';
import { OutboxStore } from '../../messaging/outbox.store.js';
import type { DomainEvent } from '../domain/index.js';
import { type ReadMode, TypeOrmProductRepository } from './product.repository.js';
import { EventPublisher, type ProductRepository, UnitOfWork } from './unit-of-work.js';

@Injectable()
export class TypeOrmUnitOfWork extends UnitOfWork {
  private readonly conflictRetry;

  constructor(
    private readonly dataSource: DataSource,
    private readonly events: EventPublisher,
    private readonly outbox: OutboxStore,
    private readonly handlers: DeliveryRunner,
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
   * The first attempt is optimistic: no transaction, one read, one guarded write (2 round trips). If it
   * lost a race, the command runs again in a transaction that locks the product row, so it cannot lose
   * again to another locking attempt; after `COMMAND_MAX_ATTEMPTS` it gives up with a 503.
   */
  async run<T>(work: (products: ProductRepository) => Promise<T>): Promise<T> {
    let events: DomainEvent[] = [];
    let result: T;
    try {
      result = await this.conflictRetry.execute(async ({ attempt }) => {
        const outcome = await this.once(work, attempt === 0 ? 'optimistic' : 'locking');
        events = outcome.events;
        return outcome.result;
      });
    } catch (error) {
      throw asTemporarilyUnavailable(error) ?? error;
    }
    // Only after the commit: a rolled-back command publishes nothing.
    if (events.length > 0) await this.events.publish(events);
    return result;
  }

  private async once<T>(work: (products: ProductRepository) => Promise<T>, mode: ReadMode): Promise<{ result: T; events: DomainEvent[] }> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    const outbox = {
      store: this.outbox,
      requestId: currentRequestId(),
      leaseMs: this.config.outboxLeaseMs,
      projections: this.handlers.transactional(),
    };
    try {
      if (mode === 'optimistic') {
        // Each statement commits on its own; the single write is all-or-nothing and checks the version.
        const products = new TypeOrmProductRepository(runner, mode);
        const result = await work(products);
        const events = await products.save(outbox);
        return { result, events };
      }
      await runner.startTransaction();
      try {
        const products = new TypeOrmProductRepository(runner, mode);
        const result = await work(products);
        // The events commit with the change they describe: none is lost if the process dies after the commit.
        const events = await products.save(outbox);
        await runner.commitTransaction();
        return { result, events };
      } catch (error) {
        if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
        throw error;
      }
    } finally {
      await runner.release();
    }
  }
}
