import type { Origin } from '../../messaging/event.js';
import type { Product } from '../domain/index.js';

/** The products of one unit of work: loaded, changed by the domain, saved together when it ends. */
export interface ProductRepository {
  /** The product of `sku`; with `orderids`, those orders' lines of this SKU (those allocated) are loaded too. */
  get(sku: string, options?: { orderids?: readonly string[] }): Promise<Product | undefined>;
  /**
   * The products of `skus` that exist, by SKU, as `get` loads them (with the lines of `orderids`), in one
   * read. `orderids` may be a function, called once the products are locked (when the unit locks): as late
   * as possible, so that a caller may add work that arrived meanwhile.
   */
  getMany(skus: readonly string[], orderids: readonly string[] | (() => readonly string[])): Promise<Map<string, Product>>;
  /** The product holding batch `ref`, with every line of that batch loaded. */
  getByBatchRef(ref: string): Promise<Product | undefined>;
  /** Whether a batch with this reference exists, under any SKU (references are global). */
  batchExists(ref: string): Promise<boolean>;
  add(product: Product): void;
  /**
   * Runs `decide` for another request than the one running the unit of work (a unit shared by several):
   * the events recorded meanwhile are stored with that request's id and trace.
   */
  onBehalfOf<T>(origin: Origin, decide: () => T): T;
  /**
   * Whether order `orderid`'s line of `sku` was deallocated (its batch shrank) and its reallocation has
   * not run yet: it is not allocated now, but may be in a moment.
   */
  awaitingReallocation(sku: string, orderid: string): Promise<boolean>;
}

/**
 * One command's unit of work: `run` hands out the repository, saves what the work changed together with
 * the events the products recorded (the outbox), commits, and only then publishes those events. Any error
 * rolls everything back and reaches the caller. Implementations re-run the whole work when it lost a race
 * with a concurrent command on the same product.
 */
export abstract class UnitOfWork {
  abstract run<T>(work: (products: ProductRepository) => Promise<T>, contention?: Contention): Promise<T>;
}

/** What a caller that runs many units on the same products knows, and learns, of their contention. */
export interface Contention {
  /** Those products are contended now: lock them from the first attempt, rather than lose a race first. */
  lockFirst?: boolean;
  /** Called when an attempt lost a race with another command (before it is retried). */
  onLostRace?: () => void;
}
