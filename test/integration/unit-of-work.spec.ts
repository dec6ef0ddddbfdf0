import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { Allocate } from '../../src/allocation/commands/allocate/allocate.command.js';
import { AllocateHandler } from '../../src/allocation/commands/allocate/allocate.handler.js';
import { AllocationGroups } from '../../src/allocation/commands/allocate/allocation-groups.js';
import { ChangeBatchQuantity } from '../../src/allocation/commands/change-batch-quantity/change-batch-quantity.command.js';
import { ChangeBatchQuantityHandler } from '../../src/allocation/commands/change-batch-quantity/change-batch-quantity.handler.js';
import { CreateBatch } from '../../src/allocation/commands/create-batch/create-batch.command.js';
import { CreateBatchHandler } from '../../src/allocation/commands/create-batch/create-batch.handler.js';
import { Allocated, Deallocated, DuplicateBatch, OrderLine, OutOfStock, Product } from '../../src/allocation/domain/index.js';
import { TypeOrmUnitOfWork } from '../../src/allocation/persistence/typeorm-unit-of-work.js';
import { dataSourceOptions } from '../../src/database/data-source-options.js';
import { TemporarilyUnavailable } from '../../src/database/database-errors.js';
import type { EventPublisher } from '../../src/messaging/event-publisher.js';
import { RecordingPublisher } from '../fakes/recording-publisher.js';
import { openDataSource } from '../support/database.js';
import { testConfig, unique } from '../support/config.js';

/** A unit of work as the service builds one, handing its committed events to `publisher`. */
function unitOfWork(dataSource: DataSource, publisher: EventPublisher, env: Record<string, string> = {}): TypeOrmUnitOfWork {
  return new TypeOrmUnitOfWork(dataSource, publisher, testConfig(env));
}

describe('TypeORM unit of work (real PostgreSQL)', () => {
  let dataSource: DataSource;
  let other: DataSource; // a second "instance" with its own pool
  let publisher: RecordingPublisher;
  let uow: TypeOrmUnitOfWork;
  let otherUow: TypeOrmUnitOfWork;

  beforeAll(async () => {
    dataSource = await openDataSource();
    other = await openDataSource();
    publisher = new RecordingPublisher();
    uow = unitOfWork(dataSource, publisher);
    otherUow = unitOfWork(other, publisher);
  });

  afterAll(async () => {
    await dataSource.destroy();
    await other.destroy();
  });

  const handlers = (u: TypeOrmUnitOfWork) => ({
    create: (ref: string, sku: string, qty: number, eta: string | null = null) =>
      new CreateBatchHandler(u).execute(new CreateBatch(ref, sku, qty, eta)),
    allocate: (orderid: string, sku: string, qty: number) => new AllocateHandler(new AllocationGroups(u, { databasePoolSize: 10 })).execute(new Allocate(orderid, sku, qty)),
    change: (ref: string, qty: number) => new ChangeBatchQuantityHandler(u).execute(new ChangeBatchQuantity(ref, qty)),
  });

  const stock = async (sku: string) => {
    const batches: { reference: string; purchased_quantity: number; allocated_quantity: number; summed: number }[] =
      await dataSource.query(
        `SELECT b.reference, b.purchased_quantity, b.allocated_quantity,
                (SELECT COALESCE(SUM(qty), 0)::int FROM allocations a WHERE a.batch_reference = b.reference) AS summed
           FROM batches b WHERE b.sku = $1 ORDER BY b.reference`,
        [sku],
      );
    const [{ version }] = await dataSource.query('SELECT version FROM products WHERE sku = $1', [sku]);
    return { batches, version: version as number };
  };

  it('saves a product and loads it back with its batches, counters and lines', async () => {
    const sku = unique('ROUND-TRIP');
    const [b1, b2] = [unique('b1'), unique('b2')];
    const { create, allocate } = handlers(uow);
    await create(b1, sku, 10, null);
    await create(b2, sku, 20, '2026-12-24');
    await allocate('o1', sku, 3);
    await allocate('o2', sku, 4);

    const loaded = await uow.run(async (products) => products.getByBatchRef(b1));
    expect(loaded).toBeInstanceOf(Product);
    expect(loaded!.version).toBe(4);
    expect(loaded!.batch(b1)).toMatchObject({ eta: null, purchasedQuantity: 10, allocatedQuantity: 7 });
    expect(loaded!.batch(b1)!.allocations).toEqual([new OrderLine('o1', sku, 3), new OrderLine('o2', sku, 4)]);
    expect(loaded!.batches.map((b) => b.reference)).toEqual([b1]); // by batch: that batch alone

    const forLine = await uow.run(async (products) => products.get(sku, { orderids: ['o2'] }));
    expect(forLine!.batch(b1)!.allocations).toEqual([new OrderLine('o2', sku, 4)]);
    expect(forLine!.batch(b1)!.allocatedQuantity).toBe(7);
    expect(forLine!.batch(b2)).toMatchObject({ eta: '2026-12-24', purchasedQuantity: 20, allocatedQuantity: 0 });
  });

  it('publishes events only after a commit', async () => {
    const sku = unique('EVENTS');
    const ref = unique('b');
    const { create, allocate } = handlers(uow);
    await create(ref, sku, 5);
    publisher.stored.length = 0;
    await allocate('o1', sku, 5);
    await allocate('o2', sku, 1);
    expect(publisher.events).toEqual([new Allocated('o1', sku, 5, ref), new OutOfStock(sku)]);
    // Each as stored in the outbox, with its own id.
    const rows = await dataSource.query('SELECT id::text, event_id FROM outbox WHERE sku = $1 ORDER BY id', [sku]);
    expect(publisher.stored.map((s) => [s.envelope.outboxId, s.envelope.eventId])).toEqual(rows.slice(-2).map((r: { id: string; event_id: string }) => [r.id, r.event_id]));
  });

  it('rolls back everything, and publishes nothing, when the work throws', async () => {
    const sku = unique('ROLLBACK');
    const ref = unique('b');
    await handlers(uow).create(ref, sku, 10);
    publisher.stored.length = 0;
    await expect(
      uow.run(async (products) => {
        const product = await products.get(sku);
        product!.allocate(new OrderLine('o1', sku, 5));
        product!.changeBatchQuantity(ref, 20);
        products.add(new Product(unique('NEW')));
        throw new Error('boom after changes');
      }),
    ).rejects.toThrow('boom after changes');
    expect(publisher.events).toEqual([]);
    const after = await stock(sku);
    expect(after.version).toBe(1);
    expect(after.batches).toEqual([{ reference: ref, purchased_quantity: 10, allocated_quantity: 0, summed: 0 }]);
  });

  it('rolls back when saving fails (the database refuses an over-allocation)', async () => {
    const sku = unique('CHECK');
    const ref = unique('b');
    await handlers(uow).create(ref, sku, 2);
    await expect(
      uow.run(async (products) => {
        const product = await products.get(sku);
        // Bypass the domain's rule to prove the database's own guard.
        (product!.batch(ref) as unknown as { allocated: number }).allocated = 3;
        product!.version += 1;
      }),
    ).rejects.toThrow(/batches_allocation_fits/);
    expect((await stock(sku)).batches[0].allocated_quantity).toBe(0);
  });

  it('never over-allocates under many simultaneous allocations from two instances', async () => {
    const sku = unique('HOT');
    const [b1, b2] = [unique('warehouse'), unique('ship')];
    await handlers(uow).create(b1, sku, 10, null);
    await handlers(uow).create(b2, sku, 5, '2026-12-01');
    const attempts = Array.from({ length: 40 }, (_, i) =>
      handlers(i % 2 === 0 ? uow : otherUow).allocate(`order-${i}`, sku, 1),
    );
    const outcomes = await Promise.all(attempts); // no error escapes
    const allocated = outcomes.filter((o) => o.kind === 'allocated');
    expect(allocated).toHaveLength(15);
    expect(outcomes.filter((o) => o.kind === 'out-of-stock')).toHaveLength(25);
    const after = await stock(sku);
    expect(after.batches.map((b) => [b.allocated_quantity, b.summed])).toEqual([
      [5, 5],
      [10, 10],
    ]);
    expect(after.version).toBe(2 + 15);
  });

  it('keeps counters exact when shrinking and allocating race', async () => {
    const sku = unique('RACE');
    const [b1, b2] = [unique('a'), unique('b')];
    await handlers(uow).create(b1, sku, 30, null);
    await handlers(uow).create(b2, sku, 30, '2026-12-01');
    for (let i = 0; i < 15; i++) await handlers(uow).allocate(`full-${i}`, sku, 2); // b1 is now full
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      work.push(handlers(i % 2 ? uow : otherUow).allocate(`o-${i}`, sku, 2));
      if (i % 5 === 0) work.push(handlers(otherUow).change(b1, 25 - i));
    }
    await Promise.all(work);
    const after = await stock(sku);
    for (const b of after.batches) {
      expect(b.allocated_quantity).toBe(b.summed);
      expect(b.allocated_quantity).toBeLessThanOrEqual(b.purchased_quantity);
    }
    expect(publisher.events.some((e) => e instanceof Deallocated && e.sku === sku)).toBe(true);
  });

  it('creates one product when batches of a new SKU arrive at once', async () => {
    const sku = unique('NEW-SKU');
    const refs = Array.from({ length: 6 }, () => unique('b'));
    await Promise.all(refs.map((ref, i) => handlers(i % 2 ? uow : otherUow).create(ref, sku, 10)));
    const after = await stock(sku);
    expect(after.batches).toHaveLength(6);
    expect(after.version).toBe(6);
  });

  it('lets exactly one of several simultaneous batches with the same reference in', async () => {
    const ref = unique('same-ref');
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) => handlers(i % 2 ? uow : otherUow).create(ref, unique('SKU'), 10)),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((r) => r.status === 'rejected')) {
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(DuplicateBatch);
    }
  });

  it('saves the products of a unit all or none: one lost race among several products leaves nothing of the others', async () => {
    const [a, b, c] = [unique('A'), unique('B'), unique('C')];
    const { create } = handlers(uow);
    await create(unique('a'), a, 10);
    await create(unique('b'), b, 10);
    await create(unique('c'), c, 10);
    let runs = 0;
    await uow.run(async (products) => {
      runs += 1;
      const found = await products.getMany([c, a, b], ['w', 'x', 'y']);
      // Between this unit's read and its write, another instance allocates on B.
      if (runs === 1) await handlers(otherUow).allocate('z', b, 1);
      found.get(c)!.allocate(new OrderLine('w', c, 100)); // out of stock: an event that a second attempt records again
      found.get(a)!.allocate(new OrderLine('x', a, 1));
      found.get(b)!.allocate(new OrderLine('y', b, 1));
    });
    expect(runs).toBe(2); // the first attempt's statement failed whole (40001), the second locked and committed
    expect(await stock(a)).toMatchObject({ version: 2, batches: [{ allocated_quantity: 1, summed: 1 }] });
    expect(await stock(b)).toMatchObject({ version: 3, batches: [{ allocated_quantity: 2, summed: 2 }] });
    const events: { sku: string; name: string; n: number }[] = await dataSource.query(
      `SELECT sku, name, count(*)::int AS n FROM outbox WHERE sku = ANY($1) GROUP BY sku, name`,
      [[a, b, c]],
    );
    expect(events).toEqual(
      expect.arrayContaining([
        { sku: a, name: 'Allocated', n: 1 },
        { sku: b, name: 'Allocated', n: 2 },
        { sku: c, name: 'OutOfStock', n: 1 },
      ]),
    );
    expect(events).toHaveLength(3);
  });

  it('re-runs the whole command after a lost race, and gives up with TemporarilyUnavailable past the bound', async () => {
    // As PostgreSQL reports a failed version check (allocation_versions_checked) or a serialization failure.
    const lostRace = () => Object.assign(new Error('a product changed since it was read'), { code: '40001' });
    const bounded = unitOfWork(dataSource, publisher, { COMMAND_MAX_ATTEMPTS: '3' });
    let runs = 0;
    await expect(
      bounded.run(async () => {
        runs += 1;
        if (runs < 3) throw lostRace();
        return 'done';
      }),
    ).resolves.toBe('done');
    expect(runs).toBe(3);

    runs = 0;
    const error = await bounded
      .run(async () => {
        runs += 1;
        throw lostRace();
      })
      .catch((e: unknown) => e);
    expect(runs).toBe(3);
    expect(error).toBeInstanceOf(TemporarilyUnavailable);
  });

  describe('a unit that locks (BEGIN sent with its lock, COMMIT with its write)', () => {
    const locking = { lockFirst: true };
    // Another session asks for the product row without waiting: refused while a transaction holds it.
    const rowIsLocked = async (sku: string) => {
      const runner = other.createQueryRunner();
      try {
        await runner.startTransaction();
        await runner.query('SELECT 1 FROM products WHERE sku = $1 FOR UPDATE NOWAIT', [sku]);
        return false;
      } catch (error) {
        if ((error as { code?: string }).code === '55P03') return true;
        throw error;
      } finally {
        await runner.rollbackTransaction().catch(() => undefined);
        await runner.release();
      }
    };

    it('holds the product row from its lock to its commit, and commits what it wrote', async () => {
      const sku = unique('LOCKED');
      const ref = unique('b');
      await handlers(uow).create(ref, sku, 10);
      const heldDuringWork = await uow.run(async (products) => {
        const product = await products.get(sku, { orderids: ['o1'] });
        product!.allocate(new OrderLine('o1', sku, 3));
        return rowIsLocked(sku);
      }, locking);
      expect(heldDuringWork).toBe(true);
      expect(await rowIsLocked(sku)).toBe(false);
      expect(await stock(sku)).toMatchObject({ version: 2, batches: [{ allocated_quantity: 3, summed: 3 }] });
    });

    it('rolls back and releases its lock when the work throws, or when its write fails, leaving its connection clean', async () => {
      // Every unit on the same connection: one left in a transaction would show. (The schema is in place.)
      const single = await new DataSource(dataSourceOptions(process.env.DATABASE_URL!, 1)).initialize();
      try {
        const u = unitOfWork(single, publisher);
        const sku = unique('LOCKFAIL');
        const ref = unique('b');
        await handlers(uow).create(ref, sku, 2);
        await expect(
          u.run(async (products) => {
            (await products.get(sku))!.allocate(new OrderLine('o1', sku, 1));
            throw new Error('boom while locked');
          }, locking),
        ).rejects.toThrow('boom while locked');
        expect(await rowIsLocked(sku)).toBe(false);
        await expect(
          u.run(async (products) => {
            const product = await products.get(sku);
            (product!.batch(ref) as unknown as { allocated: number }).allocated = 3; // past the database's guard
            product!.version += 1;
          }, locking),
        ).rejects.toThrow(/batches_allocation_fits/);
        expect(await rowIsLocked(sku)).toBe(false);
        // The same connection runs the next unit, outside any transaction of the failed ones, and commits.
        await u.run(async (products) => void (await products.get(sku, { orderids: ['o2'] }))!.allocate(new OrderLine('o2', sku, 2)), locking);
        expect(await stock(sku)).toMatchObject({ version: 2, batches: [{ allocated_quantity: 2, summed: 2 }] });
      } finally {
        await single.destroy();
      }
    });
    it('fails loudly when its transaction was aborted by a failure the work went on past', async () => {
      const sku = unique('ABORTED');
      await handlers(uow).create(unique('b'), sku, 10);
      await expect(
        uow.run(async (products) => {
          await products.get(sku);
          // PostgreSQL refuses a NUL in text, which aborts the transaction; the work swallows the error.
          await products.batchExists('nul\u0000').catch(() => undefined);
        }, locking),
      ).rejects.toThrow(/rolled back/);
    });
  });

  it('shrinks a batch of 30,000 lines to nothing in one statement (its size does not grow with the lines)', async () => {
    const sku = unique('BIG');
    const ref = unique('big');
    await handlers(uow).create(ref, sku, 30_000);
    // Seeded straight into the tables, as 30,000 allocations would have left them.
    await dataSource.query(
      `INSERT INTO allocations (orderid, sku, qty, batch_reference) SELECT 'line-' || n, $1, 1, $2 FROM generate_series(1, 30000) AS n`,
      [sku, ref],
    );
    await dataSource.query('UPDATE batches SET allocated_quantity = 30000 WHERE reference = $1', [ref]);
    publisher.stored.length = 0;

    await handlers(uow).change(ref, 0);

    const after = await stock(sku);
    expect(after.batches).toEqual([{ reference: ref, purchased_quantity: 0, allocated_quantity: 0, summed: 0 }]);
    expect(publisher.events).toHaveLength(30_000);
    // The most recent lines go first.
    expect(publisher.events[0]).toEqual(new Deallocated('line-30000', sku, 1, ref));
    const [{ n }] = await dataSource.query(`SELECT count(*)::int AS n FROM outbox WHERE sku = $1 AND name = 'Deallocated'`, [sku]);
    expect(n).toBe(30_000);
  });
});
