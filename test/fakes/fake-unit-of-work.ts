import { type DomainEvent, Product } from '../../src/allocation/domain/index.js';
import { type ProductRepository, UnitOfWork } from '../../src/allocation/persistence/unit-of-work.js';
import type { Origin } from '../../src/messaging/event.js';

/** An in-memory repository: products by SKU, as the book's FakeRepository. */
export class FakeProductRepository implements ProductRepository {
  readonly seen = new Set<Product>();

  constructor(readonly products = new Map<string, Product>()) {}

  async get(sku: string): Promise<Product | undefined> {
    return this.track(this.products.get(sku));
  }

  async getMany(skus: readonly string[], orderids: readonly string[] | (() => readonly string[])): Promise<Map<string, Product>> {
    if (typeof orderids === 'function') orderids();
    const found = new Map<string, Product>();
    for (const sku of skus) {
      const product = this.track(this.products.get(sku));
      if (product) found.set(sku, product);
    }
    return found;
  }

  /** Who each event was recorded for, when not the unit's own request. */
  readonly origins = new Map<DomainEvent, Origin>();

  onBehalfOf<T>(origin: Origin, decide: () => T): T {
    const before = new Map([...this.seen].map((p) => [p, p.events.length]));
    try {
      return decide();
    } finally {
      for (const [product, n] of before) for (const event of product.events.slice(n)) this.origins.set(event, origin);
    }
  }

  async getByBatchRef(ref: string): Promise<Product | undefined> {
    return this.track([...this.products.values()].find((p) => p.batch(ref)));
  }

  async batchExists(ref: string): Promise<boolean> {
    return [...this.products.values()].some((p) => p.batch(ref));
  }

  add(product: Product): void {
    this.products.set(product.sku, product);
    this.seen.add(product);
  }

  /** Lines a test says are deallocated and not reallocated yet, as `sku/orderid`. */
  readonly awaiting = new Set<string>();

  async awaitingReallocation(sku: string, orderid: string): Promise<boolean> {
    return this.awaiting.has(`${sku}/${orderid}`);
  }

  private track(product: Product | undefined): Product | undefined {
    if (product) this.seen.add(product);
    return product;
  }
}

/** Runs work against the in-memory repository; records commits and the events published after them. */
export class FakeUnitOfWork extends UnitOfWork {
  readonly products = new FakeProductRepository();
  readonly published: DomainEvent[] = [];
  commits = 0;

  async run<T>(work: (products: ProductRepository) => Promise<T>): Promise<T> {
    this.products.seen.clear();
    const result = await work(this.products);
    this.commits += 1;
    for (const product of this.products.seen) this.published.push(...product.events.splice(0));
    return result;
  }
}
