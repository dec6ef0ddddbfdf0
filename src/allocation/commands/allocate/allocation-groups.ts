import { AsyncResource } from 'node:async_hooks';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../../../config/config.js';
import { mayBeCausedByOneLine, TemporarilyUnavailable } from '../../../database/database-errors.js';
import { currentRequestId } from '../../../logging/request-context.js';
import type { Origin } from '../../../messaging/event.js';
import { currentTraceparent } from '../../../tracing/trace-context.js';
import { type AllocationOutcome, DomainError, InvalidSku, type OrderLine, type Product } from '../../domain/index.js';
import { type ProductRepository, UnitOfWork } from '../../persistence/unit-of-work.js';

/** The most lines one unit of work decides: its statement and its time stay bounded in a burst. */
const MAX_LINES = 128;
/**
 * Units of allocation in flight at once, on all SKUs. Two: while one waits for the database, the next is
 * prepared. More units mean smaller groups, more statements and less throughput where the database shares
 * the machine's cores (measured: 1 to 5 units gave many SKUs 1,210 / 1,293 / 973 / 956 per second at 16
 * connections); fewer leave the database idle while Node decides.
 */
const UNITS_IN_FLIGHT = 2;
/** How long a SKU that lost a race (to another instance) is locked from its units' first attempt. */
const CONTENDED_MS = 1000;

interface Waiting {
  line: OrderLine;
  /** Its request's id and trace, stored with the events its line records. */
  origin: Origin;
  /** Runs a function in the request's own async context (request id for the logs, active span). */
  resume: <R>(fn: () => R) => R;
  resolve: (outcome: AllocationOutcome) => void;
  reject: (error: unknown) => void;
}

type Decision = { outcome: AllocationOutcome } | { error: DomainError };

/**
 * Group commit for allocations. Each product is one row that every allocation of its SKU must update, so
 * during a flash sale the allocations of one SKU can only take turns, and each turn costs a read and a write
 * on the database. Here, an allocation whose SKU already has a unit of work in flight (or that finds every
 * unit slot taken) waits, and the allocations waiting when a unit ends share the next one: one read of all
 * their products, `Product.allocate` for each line in the order the lines arrived, one write of them all
 * (product-statement.ts), as a database groups the commits that arrive during a flush.
 *
 * - Every line gets its own outcome: a domain error (out of stock is an outcome; an unknown SKU, the same line
 *   with another quantity) answers that line only, and the others commit.
 * - A unit that fails with an error one line's data may cause (a data exception, a constraint, our own bug)
 *   is run again line by line, in order, so that such a line fails alone; any other failure (an outage,
 *   contention past the retry bound: 503) answers every line of the unit at once.
 * - Lines of one SKU are decided in their order of arrival on this instance: a SKU is in at most one unit at
 *   a time, and a unit takes the waiting lines in order.
 * - Nothing else changes: the unit of work still checks versions (other instances, other commands), retries
 *   a lost race, and publishes the events after the commit; each event keeps its own request's id and trace.
 */
@Injectable()
export class AllocationGroups {
  private readonly logger = new Logger('AllocationGroups');
  private waiting: Waiting[] = [];
  /** SKUs with a unit of work in flight. */
  private readonly busy = new Set<string>();
  private running = 0;
  /** SKUs that lost a race lately, until when: another instance is allocating them too. */
  private readonly contended = new Map<string, number>();
  private readonly maxUnits: number;

  constructor(
    private readonly uow: UnitOfWork,
    @Inject(APP_CONFIG) config: Pick<AppConfig, 'databasePoolSize'>,
  ) {
    this.maxUnits = Math.min(UNITS_IN_FLIGHT, config.databasePoolSize);
  }

  allocate(line: OrderLine): Promise<AllocationOutcome> {
    return new Promise((resolve, reject) => {
      const origin = { requestId: currentRequestId(), traceparent: currentTraceparent() };
      // An AsyncResource, not AsyncLocalStorage.snapshot(): a snapshot costs about 16 µs on Node 20 (it builds
      // a bound function with deprecated accessors), some 3% of an allocation's CPU; this costs 0.3 µs.
      const context = new AsyncResource('AllocationLine');
      this.waiting.push({ line, origin, resume: (fn) => context.runInAsyncScope(fn), resolve, reject });
      this.startUnits();
    });
  }

  private startUnits(): void {
    while (this.running < this.maxUnits) {
      const group = this.takeGroup();
      if (group.length === 0) return;
      const skus = new Set(group.map((w) => w.line.sku));
      this.running += 1;
      for (const sku of skus) this.busy.add(sku);
      void this.commit(group, skus)
        .catch((error: Error) => {
          // commit settles every line itself; this is a bug, and the lines would wait forever without it.
          this.logger.error({ msg: 'a unit of allocations failed unexpectedly', error: error.message });
          for (const w of group) w.reject(error);
        })
        .finally(() => {
          this.running -= 1;
          for (const sku of skus) this.busy.delete(sku);
          this.startUnits();
        });
    }
  }

  /** The waiting lines of SKUs with no unit in flight, in arrival order, up to MAX_LINES. */
  private takeGroup(): Waiting[] {
    const group: Waiting[] = [];
    this.waiting = this.waiting.filter((w) => {
      if (this.busy.has(w.line.sku) || group.length >= MAX_LINES) return true;
      group.push(w);
      return false;
    });
    return group;
  }

  /** Lines of these SKUs that arrived since their group was taken, in order, while the group has room. */
  private latecomers(skus: ReadonlySet<string>, room: number): Waiting[] {
    const joining: Waiting[] = [];
    const rest = this.waiting.filter((w) => {
      if (!skus.has(w.line.sku) || joining.length >= room) return true;
      joining.push(w);
      return false;
    });
    if (joining.length > 0) this.waiting = rest;
    return joining;
  }

  private lostRace(skus: ReadonlySet<string>): void {
    const now = Date.now();
    if (this.contended.size > 10_000) for (const [sku, until] of this.contended) if (until <= now) this.contended.delete(sku);
    for (const sku of skus) this.contended.set(sku, now + CONTENDED_MS);
  }

  /**
   * One unit of work for the group (of these SKUs, busy meanwhile); settles each line's promise, and returns
   * the error that failed the unit as a whole, if one did. Lines of the group's SKUs that arrive before the
   * unit reads (while it waits for a connection, or for their lock under contention) join it (`joinLate`).
   */
  private async commit(group: Waiting[], skus: ReadonlySet<string>, joinLate = true): Promise<unknown> {
    let decisions: Decision[];
    try {
      const now = Date.now();
      const contention = {
        lockFirst: [...skus].some((sku) => (this.contended.get(sku) ?? 0) > now),
        onLostRace: () => this.lostRace(skus),
      };
      // In the first line's context: the unit's SQL is traced and logged under its request.
      decisions = await group[0].resume(() =>
        this.uow.run(async (products) => {
          const found = await products.getMany([...skus], () => {
            // The last moment before the read: the group is final from here on, `decisions` follow it.
            if (joinLate) group.push(...this.latecomers(skus, MAX_LINES - group.length));
            return group.map((w) => w.line.orderid);
          });
          return group.map((w) => decide(products, found.get(w.line.sku), w));
        }, contention),
      );
    } catch (error) {
      if (group.length === 1 || !mayBeCausedByOneLine(error)) {
        for (const w of group) w.reject(error);
        return error;
      }
      // One line's data may be the cause: each line alone, in order, so that it fails only itself.
      for (const [i, w] of group.entries()) {
        const failure = await this.commit([w], new Set([w.line.sku]), false);
        if (!(failure instanceof TemporarilyUnavailable)) continue;
        for (const rest of group.slice(i + 1)) rest.reject(failure);
        break;
      }
      return undefined;
    }
    group.forEach((w, i) => {
      const decision = decisions[i];
      if ('error' in decision) w.reject(decision.error);
      else w.resolve(decision.outcome);
    });
    return undefined;
  }
}

/** The domain's decision for one line of a unit, its events recorded for the line's own request. */
function decide(products: ProductRepository, product: Product | undefined, { line, origin }: Waiting): Decision {
  if (!product) return { error: new InvalidSku(line.sku) };
  try {
    return { outcome: products.onBehalfOf(origin, () => product.allocate(line)) };
  } catch (error) {
    if (error instanceof DomainError) return { error };
    throw error;
  }
}
