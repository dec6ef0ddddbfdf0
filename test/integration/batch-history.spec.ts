import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { DataSource } from 'typeorm';
import { Allocate } from '../../src/allocation/commands/allocate/allocate.command.js';
import { AllocateHandler } from '../../src/allocation/commands/allocate/allocate.handler.js';
import { AllocationGroups } from '../../src/allocation/commands/allocate/allocation-groups.js';
import { CancelAllocation } from '../../src/allocation/commands/cancel-allocation/cancel-allocation.command.js';
import { CancelAllocationHandler } from '../../src/allocation/commands/cancel-allocation/cancel-allocation.handler.js';
import { ChangeBatchQuantity } from '../../src/allocation/commands/change-batch-quantity/change-batch-quantity.command.js';
import { ChangeBatchQuantityHandler } from '../../src/allocation/commands/change-batch-quantity/change-batch-quantity.handler.js';
import { Reallocate } from '../../src/allocation/commands/reallocate/reallocate.command.js';
import { ReallocateHandler } from '../../src/allocation/commands/reallocate/reallocate.handler.js';
import { Deallocated, OrderLineConflict } from '../../src/allocation/domain/index.js';
import { TypeOrmUnitOfWork } from '../../src/allocation/persistence/typeorm-unit-of-work.js';
import { RecordingPublisher } from '../fakes/recording-publisher.js';
import { openDataSource } from '../support/database.js';
import { testConfig, unique } from '../support/config.js';

const USED_UP = 3000;

/**
 * A SKU with a long history: thousands of used-up batches (each holding one old order's line), all of which
 * the rule would prefer (in the warehouse, or arriving earliest) if only they had room, and three with room.
 */
describe('allocation on a SKU with thousands of used-up batches (real PostgreSQL)', () => {
  let dataSource: DataSource;
  let publisher: RecordingPublisher;
  let uow: TypeOrmUnitOfWork;
  const sku = unique('HISTORY');
  const later = unique('later'); // 2031, room 10
  const sooner = unique('sooner'); // 2030, room 5
  const ample = unique('ample'); // 2032, room 1000

  beforeAll(async () => {
    dataSource = await openDataSource();
    publisher = new RecordingPublisher();
    uow = new TypeOrmUnitOfWork(dataSource, publisher, testConfig());
    await dataSource.query(`INSERT INTO products (sku, version) VALUES ($1, 1)`, [sku]);
    await dataSource.query(
      `INSERT INTO batches (reference, sku, purchased_quantity, allocated_quantity, eta)
       SELECT $1::varchar || '-old-' || i, $1::varchar, 1, 1, CASE WHEN i % 2 = 0 THEN NULL ELSE DATE '2020-01-01' + i END FROM generate_series(1, $2::int) i
       UNION ALL VALUES ($3::varchar, $1::varchar, 10, 0, DATE '2031-01-01'), ($4, $1, 5, 0, DATE '2030-01-01'), ($5, $1, 1000, 0, DATE '2032-01-01')`,
      [sku, USED_UP, later, sooner, ample],
    );
    await dataSource.query(
      `INSERT INTO allocations (orderid, sku, qty, batch_reference) SELECT 'old-' || i, $1::varchar, 1, $1::varchar || '-old-' || i FROM generate_series(1, $2::int) i`,
      [sku, USED_UP],
    );
  });
  afterAll(async () => {
    await dataSource.destroy();
  });

  const allocate = (orderid: string, qty: number) => new AllocateHandler(new AllocationGroups(uow, { databasePoolSize: 10 })).execute(new Allocate(orderid, sku, qty));

  it('allocates to the preferred batch with room, loading only the batches that can matter', async () => {
    expect(await allocate(unique('o'), 2)).toEqual({ kind: 'allocated', batchref: sooner });
    expect(await allocate(unique('o'), 4)).toEqual({ kind: 'allocated', batchref: later }); // sooner has 3 left
    const loaded = await uow.run(async (products) => products.get(sku));
    expect(loaded!.batches.map((b) => b.reference).sort()).toEqual([later, sooner, ample].sort());
  });

  it('still finds an old order\'s line in its used-up batch: a retry answers it, another qty is refused, a cancel frees it', async () => {
    expect(await allocate('old-7', 1)).toEqual({ kind: 'allocated', batchref: `${sku}-old-7` });
    await expect(allocate('old-7', 2)).rejects.toBeInstanceOf(OrderLineConflict);
    expect(await new CancelAllocationHandler(uow).execute(new CancelAllocation('old-7', sku))).toMatchObject({ batchref: `${sku}-old-7`, qty: 1 });
    // Its batch has room again, and it is the preferred one (2020): the next line goes there.
    expect(await allocate(unique('o'), 1)).toEqual({ kind: 'allocated', batchref: `${sku}-old-7` });
  });

  it('reallocates the lines of a shrunk batch to the batch with room, not to a used-up one', async () => {
    const orders = [unique('s1'), unique('s2')];
    for (const orderid of orders) expect(await allocate(orderid, 1)).toMatchObject({ kind: 'allocated' });
    const [{ batch_reference: shrunk }] = await dataSource.query(`SELECT batch_reference FROM allocations WHERE orderid = $1`, [orders[0]]);
    publisher.stored.length = 0;
    await new ChangeBatchQuantityHandler(uow).execute(new ChangeBatchQuantity(shrunk, 0));
    const deallocated = publisher.stored.map((s) => s.event).filter((e): e is Deallocated => e instanceof Deallocated);
    expect(deallocated.map((e) => e.orderid)).toEqual(expect.arrayContaining(orders));

    const outcomes = await new ReallocateHandler(uow).execute(new Reallocate(sku, deallocated.map((e) => ({ orderid: e.orderid, qty: e.qty }))));
    expect(outcomes.every((o) => o.kind === 'allocated' && o.batchref !== shrunk && !o.batchref.includes('-old-'))).toBe(true);
    const [{ fits }] = await dataSource.query(
      `SELECT bool_and(allocated_quantity = (SELECT COALESCE(SUM(qty), 0) FROM allocations a WHERE a.batch_reference = b.reference)
                       AND allocated_quantity <= purchased_quantity) AS fits FROM batches b WHERE sku = $1`,
      [sku],
    );
    expect(fits).toBe(true);
  });
});
