import { Inject, Injectable, Logger } from '@nestjs/common';
import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../../config/config.js';
import { isConflict, isDatabaseUnavailable, TemporarilyUnavailable } from '../../database/database-errors.js';
import { currentRequestId } from '../../logging/request-context.js';
import { OutboxStore } from '../../messaging/outbox.store.js';
import type { DomainEvent } from '../domain/index.js';
import { TypeOrmProductRepository } from './product.repository.js';
import { EventPublisher, type ProductRepository, UnitOfWork } from './unit-of-work.js';

@Injectable()
export class TypeOrmUnitOfWork extends UnitOfWork {
  private readonly logger = new Logger(TypeOrmUnitOfWork.name);
  private readonly conflictRetry;

  constructor(
    private readonly dataSource: DataSource,
    private readonly events: EventPublisher,
    private readonly outbox: OutboxStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
    // The whole command is re-run on a lost race, with jittered exponential back-off, a bounded number of times.
    this.conflictRetry = retry(handleWhen(isConflict), {
      maxAttempts: config.commandMaxAttempts - 1,
      backoff: new ExponentialBackoff({ initialDelay: 5, maxDelay: 200 }),
    });
  }

  async run<T>(work: (products: ProductRepository) => Promise<T>): Promise<T> {
    let events: DomainEvent[] = [];
    let result: T;
    try {
      result = await this.conflictRetry.execute(async ({ attempt }) => {
        if (attempt > 0) this.logger.debug(`retrying after a concurrency conflict (attempt ${attempt + 1})`);
        const outcome = await this.once(work);
        events = outcome.events;
        return outcome.result;
      });
    } catch (error) {
      if (isConflict(error)) {
        throw new TemporarilyUnavailable('Too much contention on this product; try again', 1, { cause: error });
      }
      if (isDatabaseUnavailable(error)) {
        throw new TemporarilyUnavailable('The database is unavailable; try again later', 5, { cause: error });
      }
      throw error;
    }
    // Only after the commit: a rolled-back command publishes nothing.
    if (events.length > 0) await this.events.publish(events);
    return result;
  }

  private async once<T>(work: (products: ProductRepository) => Promise<T>): Promise<{ result: T; events: DomainEvent[] }> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      try {
        const products = new TypeOrmProductRepository(runner);
        const result = await work(products);
        await products.save();
        const events = products.seen.flatMap((p) => p.events.splice(0));
        // The events commit with the change they describe: none is lost if the process dies after the commit.
        if (events.length > 0) await this.outbox.append(runner, events, currentRequestId(), this.config.outboxLeaseMs);
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
