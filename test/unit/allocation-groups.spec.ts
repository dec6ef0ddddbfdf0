import { describe, expect, it } from '@jest/globals';
import { AllocationGroups } from '../../src/allocation/commands/allocate/allocation-groups.js';
import { Batch, OrderLine, Product } from '../../src/allocation/domain/index.js';
import type { ProductRepository } from '../../src/allocation/persistence/unit-of-work.js';
import { TemporarilyUnavailable } from '../../src/database/database-errors.js';
import { FakeUnitOfWork } from '../fakes/fake-unit-of-work.js';

/** A unit of work whose read fails when `failure` says so for the lines it reads (the database refusing them). */
class FailingUnitOfWork extends FakeUnitOfWork {
  /** The order ids each unit read, in order. */
  readonly units: string[][] = [];

  constructor(private readonly failure: (orderids: readonly string[]) => Error | undefined) {
    super();
  }

  override async run<T>(work: (products: ProductRepository) => Promise<T>): Promise<T> {
    await null; // as a real unit of work, which first takes a connection
    return super.run((products) => {
      const reading: ProductRepository = Object.create(products, {
        getMany: {
          value: async (skus: readonly string[], ids: readonly string[] | (() => readonly string[])) => {
            const orderids = typeof ids === 'function' ? ids() : ids;
            this.units.push([...orderids]);
            const error = this.failure(orderids);
            if (error) throw error;
            return products.getMany(skus, orderids);
          },
        },
      });
      return work(reading);
    });
  }
}

const settle = (promises: Promise<unknown>[]) => Promise.all(promises.map((p) => p.then((v) => ({ ok: v }), (error: Error) => ({ error: error.message }))));

describe('AllocationGroups: what one line does to the others of its unit', () => {
  const stocked = (uow: FakeUnitOfWork) => uow.products.products.set('SKU', new Product('SKU', [new Batch('b1', 'SKU', 100, null)]));

  it('runs the lines of a failed unit again one by one, so that only the line that fails fails', async () => {
    const uow = new FailingUnitOfWork((orderids) => (orderids.includes('poison') ? new Error('the database refused the line') : undefined));
    stocked(uow);
    const groups = new AllocationGroups(uow, { databasePoolSize: 10 });
    const answers = await settle(['a', 'poison', 'b'].map((o) => groups.allocate(new OrderLine(o, 'SKU', 1))));
    expect(answers).toEqual([{ ok: { kind: 'allocated', batchref: 'b1' } }, { error: 'the database refused the line' }, { ok: { kind: 'allocated', batchref: 'b1' } }]);
    expect(uow.units).toEqual([['a', 'poison', 'b'], ['a'], ['poison'], ['b']]);
    expect(uow.products.products.get('SKU')!.batch('b1')!.allocations.map((l) => l.orderid)).toEqual(['a', 'b']);
  });

  it.each([
    ['the database is unavailable: no line by line retries', () => new TemporarilyUnavailable('The database is unavailable; try again later')],
    ['a failure no line can cause alone (an internal error of the database)', () => Object.assign(new Error('internal error'), { code: 'XX000' })],
  ])('answers every line of a unit at once when %s', async (_, failure) => {
    const uow = new FailingUnitOfWork(failure);
    stocked(uow);
    const groups = new AllocationGroups(uow, { databasePoolSize: 10 });
    const answers = await settle(['a', 'b', 'c'].map((o) => groups.allocate(new OrderLine(o, 'SKU', 1))));
    expect(answers).toEqual(Array(3).fill({ error: failure().message }));
    expect(uow.units).toEqual([['a', 'b', 'c']]);
  });

  it('stops running lines one by one once the database is unavailable: the rest get the 503 at once', async () => {
    let units = 0;
    const uow = new FailingUnitOfWork(() =>
      ++units === 1 ? Object.assign(new Error('invalid byte sequence'), { code: '22021' }) : new TemporarilyUnavailable('The database is unavailable; try again later'),
    );
    stocked(uow);
    const groups = new AllocationGroups(uow, { databasePoolSize: 10 });
    const answers = await settle(['a', 'b', 'c'].map((o) => groups.allocate(new OrderLine(o, 'SKU', 1))));
    expect(answers).toEqual(Array(3).fill({ error: 'The database is unavailable; try again later' }));
    expect(uow.units).toEqual([['a', 'b', 'c'], ['a']]);
  });

  it('keeps a later line of a SKU behind while its unit is in flight, but lets another SKU start', async () => {
    const uow = new FailingUnitOfWork(() => undefined);
    stocked(uow);
    uow.products.products.set('OTHER', new Product('OTHER', [new Batch('o1', 'OTHER', 100, null)]));
    const groups = new AllocationGroups(uow, { databasePoolSize: 10 });
    const first = groups.allocate(new OrderLine('a', 'SKU', 1));
    while (uow.units.length === 0) await Promise.resolve(); // until the unit has read: 'a' is in flight
    await settle([first, groups.allocate(new OrderLine('x', 'OTHER', 1)), groups.allocate(new OrderLine('b', 'SKU', 1))]);
    expect(uow.units).toEqual([['a'], ['x'], ['b']]);
  });
});
