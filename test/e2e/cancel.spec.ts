import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Counter, register } from 'prom-client';
import { DataSource } from 'typeorm';
import { OutboxDispatcher } from '../../src/messaging/outbox.dispatcher.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { unique } from '../support/config.js';
import { metricValue } from '../support/metrics.js';

describe('POST /cancel_allocation', () => {
  let apps: TestApp[];
  let t: TestApp;

  beforeAll(async () => {
    apps = [await startTestApp(), await startTestApp()];
    t = apps[0];
  });
  afterAll(async () => {
    for (const a of apps ?? []) await a.close();
  });

  /** Every batch's counter equals the sum of its lines, and no batch holds more than its quantity. */
  async function expectCountersMatchLines(sku: string): Promise<void> {
    const rows = await t.app.get(DataSource).query(
      `SELECT b.reference, b.purchased_quantity AS qty, b.allocated_quantity AS counter, coalesce(sum(a.qty), 0)::int AS lines
         FROM batches b LEFT JOIN allocations a ON a.batch_reference = b.reference
        WHERE b.sku = $1 GROUP BY b.reference, b.purchased_quantity, b.allocated_quantity`,
      [sku],
    );
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      expect({ ref: row.reference, counter: row.counter }).toEqual({ ref: row.reference, counter: row.lines });
      expect(row.counter).toBeLessThanOrEqual(row.qty);
    }
  }

  const cancel = (app: TestApp, orderid: string, sku: string) => app.http.post('/cancel_allocation').send({ orderid, sku });
  const allocate = (app: TestApp, orderid: string, sku: string, qty: number) => app.http.post('/allocate').send({ orderid, sku, qty });

  it('frees the stock at once: allocate, cancel, allocate again uses the same stock', async () => {
    const [sku, ref, o1, o2] = [unique('CANCEL'), unique('b'), unique('o1'), unique('o2')];
    await t.http.post('/add_batch').send({ ref, sku, qty: 10 }).expect(201);
    await allocate(t, o1, sku, 10).expect(202);
    expect((await allocate(t, o2, sku, 10)).status).toBe(409);

    const commands = register.getSingleMetric('allocation_commands_total') as Counter<string>;
    const counted = { ok: await metricValue(commands, { command: 'CancelAllocation', outcome: 'ok' }), notAllocated: await metricValue(commands, { command: 'CancelAllocation', outcome: 'LineNotAllocated' }) };
    const res = await cancel(t, o1, sku);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ orderid: o1, sku, qty: 10, batchref: ref });
    // Read your writes, on either instance.
    expect((await apps[1].http.get(`/allocations/${o1}`)).status).toBe(404);
    expect((await apps[1].http.get(`/products/${sku}`)).body.batches).toEqual([{ ref, eta: null, qty: 10, allocated: 0, available: 10 }]);

    expect((await allocate(t, o2, sku, 10)).body).toEqual({ batchref: ref });
    expect((await cancel(t, o1, sku)).body).toMatchObject({ message: `Order ${o1} has no allocated line of sku ${sku}` }); // a retry: 404
    expect((await cancel(t, o1, sku)).status).toBe(404);
    await expectCountersMatchLines(sku);
    // Counted like every command: one success, two 404s.
    expect(await metricValue(commands, { command: 'CancelAllocation', outcome: 'ok' })).toBe(counted.ok + 1);
    expect(await metricValue(commands, { command: 'CancelAllocation', outcome: 'LineNotAllocated' })).toBe(counted.notAllocated + 2);
  });

  it('answers 404 for a line never allocated and for an unknown SKU, and 400 for a bad body, changing nothing', async () => {
    const [sku, ref] = [unique('CANCEL'), unique('b')];
    await t.http.post('/add_batch').send({ ref, sku, qty: 10 }).expect(201);
    expect((await cancel(t, unique('o'), sku)).status).toBe(404);
    expect((await cancel(t, unique('o'), unique('NO-SKU'))).status).toBe(404);
    for (const body of [{}, { orderid: 'o' }, { orderid: 1, sku }, { orderid: '', sku }, { orderid: 'o', sku: 's'.repeat(256) }, { orderid: 'o\u0000', sku }]) {
      const res = await t.http.post('/cancel_allocation').send(body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(res.body.message).toBeDefined();
    }
    expect((await t.http.get(`/products/${sku}`)).body).toMatchObject({ version: 1 });
  });

  it('keeps counters equal to the lines under 100 concurrent cancels and allocations from two instances', async () => {
    const sku = unique('CANCEL-RACE');
    const [b1, b2] = [unique('b1'), unique('b2')];
    await t.http.post('/add_batch').send({ ref: b1, sku, qty: 30 }).expect(201);
    await t.http.post('/add_batch').send({ ref: b2, sku, qty: 20, eta: '2030-01-01' }).expect(201);
    const old = Array.from({ length: 50 }, (_, i) => unique(`old${i}`));
    for (const orderid of old) await allocate(t, orderid, sku, 1).expect(202);
    const fresh = Array.from({ length: 50 }, (_, i) => unique(`new${i}`));

    const results = await Promise.all([
      ...old.map((orderid, i) => cancel(apps[i % 2], orderid, sku).then((res) => ({ kind: 'cancel', orderid, res }))),
      ...fresh.map((orderid, i) => allocate(apps[(i + 1) % 2], orderid, sku, 1).then((res) => ({ kind: 'allocate', orderid, res }))),
    ]);
    // Every cancel succeeds; an allocation that came before enough cancels had freed stock is an honest 409.
    for (const { kind, res } of results) expect({ kind, status: res.status }).toEqual({ kind, status: kind === 'cancel' ? 200 : res.status === 409 ? 409 : 202 });
    const allocated = results.filter((r) => r.kind === 'allocate' && r.res.status === 202).map((r) => r.orderid);
    expect(allocated.length).toBeGreaterThan(0);

    for (const orderid of old) expect((await apps[1].http.get(`/allocations/${orderid}`)).status).toBe(404);
    for (const orderid of fresh) expect((await apps[0].http.get(`/allocations/${orderid}`)).status).toBe(allocated.includes(orderid) ? 200 : 404);
    await expectCountersMatchLines(sku);
    const product = (await t.http.get(`/products/${sku}`)).body;
    expect(product.batches.reduce((n: number, b: { allocated: number }) => n + b.allocated, 0)).toBe(allocated.length);
  });

  it('races an allocation of the same line into one consistent state', async () => {
    const [sku, ref] = [unique('CANCEL-SAME'), unique('b')];
    await t.http.post('/add_batch').send({ ref, sku, qty: 1000 }).expect(201);
    for (let i = 0; i < 20; i++) {
      const orderid = unique('line');
      const [allocated, cancelled] = await Promise.all([allocate(apps[i % 2], orderid, sku, 3), cancel(apps[(i + 1) % 2], orderid, sku)]);
      expect(allocated.status).toBe(202);
      const read = await t.http.get(`/allocations/${orderid}`);
      // Cancelled after the allocation: gone. Before it: 404, and the allocation stands.
      if (cancelled.status === 200) expect(read.status).toBe(404);
      else expect({ cancel: cancelled.status, read: read.status }).toEqual({ cancel: 404, read: 200 });
    }
    await expectCountersMatchLines(sku);
  });

  it('cancels a line whose batch shrinks at the same moment: it waits for the reallocation, then cancels it', async () => {
    const sku = unique('CANCEL-SHRINK');
    const [full, room] = [unique('full'), unique('room')];
    await t.http.post('/add_batch').send({ ref: full, sku, qty: 10 }).expect(201);
    await t.http.post('/add_batch').send({ ref: room, sku, qty: 1000, eta: '2030-01-01' }).expect(201);
    const lines = Array.from({ length: 10 }, () => unique('line'));
    for (const orderid of lines) await allocate(t, orderid, sku, 1).expect(202);

    const [shrunk, ...cancels] = await Promise.all([
      apps[0].http.post('/change_batch_quantity').send({ ref: full, qty: 0 }),
      ...lines.map((orderid, i) => cancel(apps[i % 2], orderid, sku)),
    ]);
    expect(shrunk.status).toBe(200);
    // Each line was either cancelled from its batch, or deallocated, reallocated and then cancelled: never
    // a 404 that the saga then contradicts by allocating the line again.
    expect(cancels.map((c) => c.status)).toEqual(lines.map(() => 200));
    for (const a of apps) await a.app.get(OutboxDispatcher).idle();
    for (const orderid of lines) expect((await t.http.get(`/allocations/${orderid}`)).status).toBe(404);
    await expectCountersMatchLines(sku);
    const product = (await t.http.get(`/products/${sku}`)).body;
    expect(product.batches.map((b: { allocated: number }) => b.allocated)).toEqual([0, 0]);
  });
});
