import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { DataSource } from 'typeorm';
import { AllocationGroups } from '../../src/allocation/commands/allocate/allocation-groups.js';
import { CreateBatch } from '../../src/allocation/commands/create-batch/create-batch.command.js';
import { CreateBatchHandler } from '../../src/allocation/commands/create-batch/create-batch.handler.js';
import { type AllocationOutcome, InvalidSku, OrderLine, OrderLineConflict } from '../../src/allocation/domain/index.js';
import { TypeOrmUnitOfWork } from '../../src/allocation/persistence/typeorm-unit-of-work.js';
import { withRequestId } from '../../src/logging/request-context.js';
import { RecordingPublisher } from '../fakes/recording-publisher.js';
import { openDataSource } from '../support/database.js';
import { testConfig, unique } from '../support/config.js';

/** Counts the statements that write products: one per unit of work that changed something. */
class CountingUnitOfWork extends TypeOrmUnitOfWork {
  units = 0;
  override run<T>(...args: Parameters<TypeOrmUnitOfWork['run']>): Promise<T> {
    this.units += 1;
    return super.run(...(args as [never, never]));
  }
}

type Answer = { outcome: AllocationOutcome } | { error: unknown };

describe('Allocations share units of work (group commit, real PostgreSQL)', () => {
  let dataSource: DataSource;
  let uow: CountingUnitOfWork;
  let groups: AllocationGroups;
  let publisher: RecordingPublisher;

  beforeAll(async () => {
    dataSource = await openDataSource();
    publisher = new RecordingPublisher();
    uow = new CountingUnitOfWork(dataSource, publisher, testConfig());
    groups = new AllocationGroups(uow, { databasePoolSize: 10 });
  });
  afterAll(async () => {
    await dataSource.destroy();
  });

  const createBatch = (ref: string, sku: string, qty: number, eta: string | null = null) => new CreateBatchHandler(uow).execute(new CreateBatch(ref, sku, qty, eta));
  /** Lines submitted in this order, all before any unit can end: they arrive while one is in flight. */
  const burst = (lines: [orderid: string, sku: string, qty: number][]) =>
    Promise.all(
      lines.map(([orderid, sku, qty], i) =>
        withRequestId(`req-${orderid}-${i}`, () => groups.allocate(new OrderLine(orderid, sku, qty))).then(
          (outcome): Answer => ({ outcome }),
          (error: unknown): Answer => ({ error }),
        ),
      ),
    );
  const linesOf = async (sku: string) =>
    (await dataSource.query(`SELECT orderid, qty, batch_reference AS batch FROM allocations WHERE sku = $1 ORDER BY id`, [sku])) as { orderid: string; qty: number; batch: string }[];

  it('decides the lines of one SKU in their order of arrival, in one unit of work', async () => {
    const [sku, batch] = [unique('SKU'), unique('batch')];
    await createBatch(batch, sku, 10);
    const before = uow.units;
    // 3 fits (7 left), 5 fits (2 left), 4 does not, 2 fits (0 left), 1 does not: only this order gives this.
    const answers = await burst([
      ['o1', sku, 3],
      ['o2', sku, 5],
      ['o3', sku, 4],
      ['o4', sku, 2],
      ['o5', sku, 1],
    ]);
    expect(answers).toEqual([
      { outcome: { kind: 'allocated', batchref: batch } },
      { outcome: { kind: 'allocated', batchref: batch } },
      { outcome: { kind: 'out-of-stock' } },
      { outcome: { kind: 'allocated', batchref: batch } },
      { outcome: { kind: 'out-of-stock' } },
    ]);
    expect((await linesOf(sku)).map((l) => l.orderid)).toEqual(['o1', 'o2', 'o4']);
    // The first line started a unit at once; the others, arrived before it read, joined it.
    expect(uow.units - before).toBe(1);
  });

  it('answers a failing line alone, in the middle of a burst, and commits the others', async () => {
    const [sku, batch] = [unique('SKU'), unique('batch')];
    await createBatch(batch, sku, 100);
    await burst([['taken', sku, 4]]);
    const events = publisher.stored.length;
    const answers = await burst([
      ['a', sku, 1],
      ['b', sku, 1],
      ['taken', sku, 5], // allocated already, with another quantity
      ['c', sku, 1],
      ['d', unique('NO-SUCH-SKU'), 1],
      ['e', sku, 1],
    ]);
    expect(answers.map((a) => ('outcome' in a ? a.outcome.kind : (a.error as Error).constructor.name))).toEqual([
      'allocated',
      'allocated',
      OrderLineConflict.name,
      'allocated',
      InvalidSku.name,
      'allocated',
    ]);
    expect((await linesOf(sku)).map((l) => `${l.orderid}:${l.qty}`)).toEqual(['taken:4', 'a:1', 'b:1', 'c:1', 'e:1']);
    const published = publisher.stored.slice(events);
    expect(published.map((s) => (s.event as { orderid?: string }).orderid)).toEqual(['a', 'b', 'c', 'e']);
  });

  it('answers a retry inside a burst as the first attempt: one line, one event', async () => {
    const [sku, batch] = [unique('SKU'), unique('batch')];
    await createBatch(batch, sku, 100);
    const events = publisher.stored.length;
    const answers = await burst([
      ['first', sku, 1],
      ['twice', sku, 2],
      ['other', sku, 1],
      ['twice', sku, 2],
    ]);
    expect(answers).toEqual(Array(4).fill({ outcome: { kind: 'allocated', batchref: batch } }));
    expect((await linesOf(sku)).map((l) => l.orderid)).toEqual(['first', 'twice', 'other']);
    expect(publisher.stored.slice(events).filter((s) => s.event.name === 'Allocated')).toHaveLength(3);
  });

  it('saves lines of several SKUs in one unit, each event with the request that recorded it', async () => {
    const skus = [unique('SKU'), unique('SKU'), unique('SKU'), unique('SKU')];
    for (const sku of skus) await createBatch(unique('batch'), sku, 1);
    const events = publisher.stored.length;
    const before = uow.units;
    await burst([
      ['v', skus[0], 1],
      ['x', skus[1], 1],
      ['y', skus[2], 1],
      ['z', skus[3], 1],
      ['w', skus[3], 1], // out of stock: z took the last one
    ]);
    expect(uow.units - before).toBe(3); // two start at once (two units in flight at most), the other three share the third
    // The first two units commit in either order.
    const rows = (await dataSource.query(`SELECT name, payload->>'orderid' AS orderid, request_id FROM outbox WHERE sku = ANY($1) ORDER BY request_id`, [skus])) as {
      name: string;
      orderid: string | null;
      request_id: string;
    }[];
    expect(rows).toEqual([
      { name: 'Allocated', orderid: 'v', request_id: 'req-v-0' },
      { name: 'OutOfStock', orderid: null, request_id: 'req-w-4' },
      { name: 'Allocated', orderid: 'x', request_id: 'req-x-1' },
      { name: 'Allocated', orderid: 'y', request_id: 'req-y-2' },
      { name: 'Allocated', orderid: 'z', request_id: 'req-z-3' },
    ]);
    expect(publisher.stored.slice(events).map((s) => s.envelope.requestId).sort()).toEqual(['req-v-0', 'req-w-4', 'req-x-1', 'req-y-2', 'req-z-3']);
  });
});
