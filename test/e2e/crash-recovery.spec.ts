import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { DataSource } from 'typeorm';
import { Allocate } from '../../src/allocation/commands/allocate/allocate.command.js';
import { AllocateHandler } from '../../src/allocation/commands/allocate/allocate.handler.js';
import { AllocationGroups } from '../../src/allocation/commands/allocate/allocation-groups.js';
import { ChangeBatchQuantity } from '../../src/allocation/commands/change-batch-quantity/change-batch-quantity.command.js';
import { ChangeBatchQuantityHandler } from '../../src/allocation/commands/change-batch-quantity/change-batch-quantity.handler.js';
import { CreateBatch } from '../../src/allocation/commands/create-batch/create-batch.command.js';
import { CreateBatchHandler } from '../../src/allocation/commands/create-batch/create-batch.handler.js';
import { TypeOrmUnitOfWork } from '../../src/allocation/persistence/typeorm-unit-of-work.js';
import { OutboxDispatcher } from '../../src/messaging/outbox.dispatcher.js';
import { DeliveryRunner } from '../../src/messaging/delivery-runner.js';
import type { Delivered, StoredEvent } from '../../src/messaging/event.js';
import type { EventHandler } from '../../src/messaging/event-handler.js';
import { EventPublisher } from '../../src/messaging/event-publisher.js';
import { eventually, startTestApp, type TestApp } from '../support/app.js';
import { testConfig, unique } from '../support/config.js';
import { openDataSource } from '../support/database.js';
import { mailsAbout, startSmtpServer, type TestSmtpServer } from '../support/smtp.js';

/** The process "dies" right after each commit: nothing is dispatched. */
class DeadAfterCommit extends EventPublisher {
  async publish(_events: readonly StoredEvent[]): Promise<void> {}
}

describe('crash safety: events committed but never dispatched', () => {
  const LEASE_MS = 300;
  let dataSource: DataSource;
  let smtp: TestSmtpServer;
  let instances: TestApp[] = [];
  const sku = unique('CRASH');
  const [b1, b2] = [unique('b1'), unique('b2')];
  const [o1, o2] = [unique('o1'), unique('o2')];

  beforeAll(async () => {
    dataSource = await openDataSource();
    smtp = await startSmtpServer();
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    for (const t of instances) await t.close();
    await dataSource.destroy();
    await smtp.close();
  });

  it('are delivered by the relay of new instances, exactly once per handler', async () => {
    // 1. Commands commit in a process that dies before dispatching anything.
    const config = testConfig({ OUTBOX_LEASE_MS: String(LEASE_MS) });
    const uow = new TypeOrmUnitOfWork(dataSource, new DeadAfterCommit(), config);
    await new CreateBatchHandler(uow).execute(new CreateBatch(b1, sku, 10, null));
    await new CreateBatchHandler(uow).execute(new CreateBatch(b2, sku, 10, '2030-01-01'));
    expect(await new AllocateHandler(new AllocationGroups(uow, { databasePoolSize: 10 })).execute(new Allocate(o1, sku, 5))).toEqual({ kind: 'allocated', batchref: b1 });
    expect(await new AllocateHandler(new AllocationGroups(uow, { databasePoolSize: 10 })).execute(new Allocate(o2, sku, 50))).toEqual({ kind: 'out-of-stock' });
    await new ChangeBatchQuantityHandler(uow).execute(new ChangeBatchQuantity(b1, 3)); // o1 no longer fits
    const pending = await dataSource.query(`SELECT name FROM outbox WHERE sku = $1 AND dispatched_at IS NULL ORDER BY id`, [sku]);
    expect(pending.map((r: { name: string }) => r.name)).toEqual(['Allocated', 'OutOfStock', 'Deallocated']);

    // 2. Two fresh instances on the same database, with no memory of those events. Every delivery is
    // recorded from before they start: a relay may deliver at bootstrap already.
    const deliveries: string[] = [];
    const deliver = DeliveryRunner.prototype.deliver;
    jest.spyOn(DeliveryRunner.prototype, 'deliver').mockImplementation(function (this: DeliveryRunner, handler: EventHandler, event: Delivered) {
      if ((event as { sku?: string }).sku === sku) deliveries.push(`${event.name}/${event.envelope.eventId}/${handler.handlerName}`);
      return deliver.call(this, handler, event);
    });
    const env = { SMTP_URL: smtp.url, OUTBOX_POLL_MS: '50', OUTBOX_LEASE_MS: String(LEASE_MS) };
    instances = [await startTestApp(env), await startTestApp(env)];

    // 3. Once the dead process's lease runs out, the relays deliver everything.
    await eventually(async () => {
      const rows = await dataSource.query(`SELECT count(*)::int AS n FROM outbox WHERE sku = $1 AND dispatched_at IS NULL`, [sku]);
      expect(rows[0].n).toBe(0);
      expect((await instances[0].http.get(`/allocations/${o1}`)).body).toEqual([{ sku, batchref: b2 }]);
    });
    for (const t of instances) await t.app.get(OutboxDispatcher).idle();

    // Each (event, handler) pair ran once, although two relays were polling.
    const counts = new Map<string, number>();
    for (const d of deliveries) counts.set(d, (counts.get(d) ?? 0) + 1);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    const kinds = deliveries.map((d) => `${d.split('/')[0]}/${d.split('/')[2]}`).sort();
    expect(kinds).toEqual(['Deallocated/ReallocationSaga', 'OutOfStock/OutOfStockNotifier']); // Allocated has no handler without Redis

    // The effects: one e-mail, one reallocation, nothing left to retry.
    expect(mailsAbout(smtp, sku)).toHaveLength(1);
    const product = (await instances[1].http.get(`/products/${sku}`)).body;
    expect(product.batches.map((b: { ref: string; allocated: number }) => [b.ref, b.allocated])).toEqual([
      [b1, 0],
      [b2, 5],
    ]);
    const left = await dataSource.query(`SELECT count(*)::int AS n FROM event_deliveries d JOIN outbox o ON o.id = d.outbox_id WHERE o.sku = $1`, [sku]);
    expect(left[0].n).toBe(0);
  });
});
