import type { DomainEvent, Product } from '../domain/index.js';

/** The products of one unit of work. Every product it returns is locked until that unit of work ends. */
export interface ProductRepository {
  /** The product of `sku`; with `orderid`, that order's line of this SKU (if allocated) is loaded too. */
  get(sku: string, options?: { orderid?: string }): Promise<Product | undefined>;
  /** The product holding batch `ref`, with every line of that batch loaded. */
  getByBatchRef(ref: string): Promise<Product | undefined>;
  /** Whether a batch with this reference exists, under any SKU (references are global). */
  batchExists(ref: string): Promise<boolean>;
  add(product: Product): void;
}

/**
 * One command's transaction: `run` hands out the repository, saves what the work changed, commits, and
 * only then publishes the events the products recorded. Any error rolls everything back and reaches the
 * caller. Implementations retry the whole work when it lost a race with a concurrent command.
 */
export abstract class UnitOfWork {
  abstract run<T>(work: (products: ProductRepository) => Promise<T>): Promise<T>;
}

/** Where committed events go (the EventBus, or the outbox in front of it). */
export abstract class EventPublisher {
  /** Hands committed events to their handlers (without waiting for them to finish). */
  abstract publish(events: readonly DomainEvent[]): Promise<void>;
}
