import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { eventually, startTestApp, type TestApp } from '../support/app.js';
import { unique } from '../support/config.js';
import { openDataSource } from '../support/database.js';

describe('a batch holding 3,000 lines (the statement itself is tested with 30,000)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  it('shrinks to 0 (200), then every line is reallocated or out of stock, and counters match lines', async () => {
    const sku = unique('BIG');
    const [full, room] = [unique('full'), unique('room')];
    await t.http.post('/add_batch').send({ ref: full, sku, qty: 3_000 }).expect(201);
    await t.http.post('/add_batch').send({ ref: room, sku, qty: 2_000, eta: '2030-01-01' }).expect(201);
    // 3,000 allocations, seeded straight into the tables as they would have left them.
    const db = t.app.get(DataSource);
    await db.query(
      `INSERT INTO allocations (orderid, sku, qty, batch_reference) SELECT 'line-' || n, $1, 1, $2 FROM generate_series(1, 3000) AS n`,
      [sku, full],
    );
    await db.query('UPDATE batches SET allocated_quantity = 3000 WHERE reference = $1', [full]);

    await t.http.post('/change_batch_quantity').send({ ref: full, qty: 0 }).expect(200);
    // Meanwhile other requests are served.
    await t.http.post('/allocate').send({ orderid: unique('o'), sku: unique('NONE'), qty: 1 }).expect(400);

    const product = await eventually(async () => {
      const body = (await t.http.get(`/products/${sku}`)).body as { batches: { ref: string; allocated: number }[] };
      expect(body.batches.find((b) => b.ref === room)?.allocated).toBe(2_000);
      const [{ n }] = await db.query(`SELECT count(*)::int AS n FROM outbox WHERE sku = $1 AND name = 'OutOfStock'`, [sku]);
      expect(n).toBe(1_000);
      return body;
    }, 60_000);
    expect(product.batches.find((b) => b.ref === full)?.allocated).toBe(0);
    const [counts] = await db.query(
      `SELECT count(*)::int AS lines, (SELECT sum(allocated_quantity)::int FROM batches WHERE sku = $1) AS counted FROM allocations WHERE sku = $1`,
      [sku],
    );
    expect(counts).toEqual({ lines: 2_000, counted: 2_000 });
    // The newest lines left first, and were reallocated first: the oldest 1,000 found no room.
    expect((await t.http.get('/allocations/line-3000')).body).toEqual([{ sku, batchref: room }]);
    expect((await t.http.get('/allocations/line-1')).status).toBe(404);
  }, 90_000);
});

describe('an instance closed while it hands a shrink\'s events to their handlers', () => {
  const env = { OUTBOX_LEASE_MS: '500', OUTBOX_POLL_MS: '50' };
  const apps: TestApp[] = [];
  let db: DataSource; // the test's own: it outlives the instances
  beforeAll(async () => {
    db = await openDataSource();
  });
  afterAll(async () => {
    for (const t of apps) await t.close();
    await db.destroy();
  });

  it('closes without waiting for the rest, which another instance delivers once their lease runs out', async () => {
    const first = await startTestApp(env);
    const sku = unique('BIGCLOSE');
    const [full, room] = [unique('full'), unique('room')];
    await first.http.post('/add_batch').send({ ref: full, sku, qty: 3_000 }).expect(201);
    await first.http.post('/add_batch').send({ ref: room, sku, qty: 3_000, eta: '2030-01-01' }).expect(201);
    await db.query(
      `INSERT INTO allocations (orderid, sku, qty, batch_reference) SELECT 'close-' || n, $1, 1, $2 FROM generate_series(1, 3000) AS n`,
      [sku, full],
    );
    await db.query('UPDATE batches SET allocated_quantity = 3000 WHERE reference = $1', [full]);

    await first.http.post('/change_batch_quantity').send({ ref: full, qty: 0 }).expect(200);
    // Closed at once, in the middle of its 3,000 Deallocated events. The EventBus's handlers unsubscribe
    // during the close: an event still handed to it then would never be delivered, and the close would
    // wait for it forever (this test's timeout).
    await first.close();
    const [{ handed }] = await db.query(`SELECT count(*)::int AS handed FROM outbox WHERE sku = $1 AND name = 'Deallocated' AND dispatched_at IS NOT NULL`, [sku]);
    expect(handed).toBeLessThan(3_000); // the close really came in the middle

    apps.push(await startTestApp(env));
    await eventually(async () => {
      const [counts] = await db.query(
        `SELECT count(*) FILTER (WHERE batch_reference = $2)::int AS reallocated, count(*)::int AS lines,
                (SELECT sum(allocated_quantity)::int FROM batches WHERE sku = $1) AS counted,
                (SELECT count(*)::int FROM outbox WHERE sku = $1 AND name = 'Deallocated' AND dispatched_at IS NULL) AS undispatched
           FROM allocations WHERE sku = $1`,
        [sku, room],
      );
      expect(counts).toEqual({ reallocated: 3_000, lines: 3_000, counted: 3_000, undispatched: 0 });
    }, 60_000);
  }, 90_000);
});
