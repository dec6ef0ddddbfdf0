import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { startTestApp, type TestApp } from '../support/app.js';
import { unique } from '../support/config.js';

interface Answer {
  status: number;
  body: { batchref?: string; message?: string };
}

describe('Flash sale: one SKU, many concurrent allocations, two instances', () => {
  let apps: TestApp[];
  let urls: string[];
  beforeAll(async () => {
    apps = [await startTestApp(), await startTestApp()];
    urls = [];
    for (const t of apps) {
      await t.app.listen(0, '127.0.0.1');
      urls.push((await t.app.getUrl()).replace('[::1]', '127.0.0.1'));
    }
  });
  afterAll(async () => {
    await Promise.all(apps.map((t) => t.close()));
  });

  const post = (instance: number, path: string, body: unknown) => send(urls[instance], 'POST', path, body);
  const get = async (instance: number, path: string) => (await send(urls[instance], 'GET', path)).body as unknown;
  const count = async (sql: string, params: unknown[]) => Number((await apps[0].app.get(DataSource).query(sql, params))[0].n);

  it('allocates exactly the stock: 500 at once on two instances, stock for 300, gives 300 x 202 and 200 x 409, with counters, lines and events that match', async () => {
    const sku = unique('FLASH');
    const [warehouse, shipment] = [unique('warehouse'), unique('shipment')];
    expect((await post(0, '/add_batch', { ref: warehouse, sku, qty: 200 })).status).toBe(201);
    expect((await post(1, '/add_batch', { ref: shipment, sku, qty: 100, eta: '2030-01-01' })).status).toBe(201);

    const orders = Array.from({ length: 500 }, (_, i) => unique(`flash-${i}`));
    const answers = await Promise.all(orders.map((orderid, i) => post(i % 2, '/allocate', { orderid, sku, qty: 1 })));

    const allocated = orders.filter((_, i) => answers[i].status === 202);
    expect(answers.filter((a) => a.status === 202)).toHaveLength(300);
    expect(answers.filter((a) => a.status === 409)).toHaveLength(200);
    for (const a of answers.filter((x) => x.status === 409)) expect(a.body.message).toBe(`Out of stock for sku ${sku}`);
    // Warehouse stock first, then the shipment: 200 and 100.
    expect(answers.filter((a) => a.body.batchref === warehouse)).toHaveLength(200);
    expect(answers.filter((a) => a.body.batchref === shipment)).toHaveLength(100);

    const product = (await get(1, `/products/${sku}`)) as { batches: { ref: string; allocated: number; available: number }[] };
    expect(product.batches.map((b) => [b.ref, b.allocated, b.available]).sort()).toEqual([
      [shipment, 100, 0],
      [warehouse, 200, 0],
    ].sort());
    expect(await count('SELECT count(*) AS n FROM allocations WHERE sku = $1', [sku])).toBe(300);
    expect(await count('SELECT count(*) AS n FROM allocations WHERE sku = $1 AND orderid = ANY($2)', [sku, allocated])).toBe(300);
    // One event per outcome, through the outbox.
    expect(await count(`SELECT count(DISTINCT payload->>'orderid') AS n FROM outbox WHERE sku = $1 AND name = 'Allocated' AND payload->>'orderid' = ANY($2)`, [sku, allocated])).toBe(300);
    expect(await count(`SELECT count(*) AS n FROM outbox WHERE sku = $1 AND name = 'Allocated'`, [sku])).toBe(300);
    expect(await count(`SELECT count(*) AS n FROM outbox WHERE sku = $1 AND name = 'OutOfStock'`, [sku])).toBe(200);
    // Read your writes on the other instance, for every line answered 202.
    for (const [i, orderid] of orders.entries()) {
      if (answers[i].status !== 202 || i % 10 !== 0) continue;
      const view = await get((i + 1) % 2, `/allocations/${orderid}`);
      expect(view).toEqual([{ sku, batchref: answers[i].body.batchref }]);
    }
  });

  it('answers a bad line in the middle of a burst alone: the same line with another qty, an unknown SKU', async () => {
    const sku = unique('FLASH');
    const batch = unique('batch');
    await post(0, '/add_batch', { ref: batch, sku, qty: 1000 });
    const taken = unique('taken');
    expect((await post(0, '/allocate', { orderid: taken, sku, qty: 5 })).status).toBe(202);
    const missing = unique('NO-SUCH-SKU');
    const lines = Array.from({ length: 60 }, (_, i) =>
      i === 30 ? { orderid: taken, sku, qty: 7 } : i === 31 ? { orderid: unique('o'), sku: missing, qty: 1 } : { orderid: unique('o'), sku, qty: 1 },
    );
    const answers = await Promise.all(lines.map((line) => post(0, '/allocate', line)));
    expect(answers[30]).toEqual({
      status: 409,
      body: expect.objectContaining({ message: `Order ${taken} already has 5 of sku ${sku} allocated; a line cannot change its quantity` }),
    });
    expect(answers[31]).toEqual({ status: 400, body: expect.objectContaining({ message: `Invalid sku ${missing}` }) });
    const others = answers.filter((_, i) => i !== 30 && i !== 31);
    expect(others.map((a) => a.status)).toEqual(Array(58).fill(202));
    expect(await count('SELECT allocated_quantity AS n FROM batches WHERE reference = $1', [batch])).toBe(5 + 58);
  });

  it('answers retries inside a burst as the first attempt: allocated once, one event', async () => {
    const sku = unique('FLASH');
    const batch = unique('batch');
    await post(0, '/add_batch', { ref: batch, sku, qty: 1000 });
    const orders = Array.from({ length: 20 }, () => unique('o'));
    // Each line three times, from both instances, all at once.
    const answers = await Promise.all([...orders, ...orders, ...orders].map((orderid, i) => post(i % 2, '/allocate', { orderid, sku, qty: 2 })));
    expect(answers.map((a) => a.status)).toEqual(Array(60).fill(202));
    expect(await count('SELECT count(*) AS n FROM allocations WHERE sku = $1', [sku])).toBe(20);
    expect(await count('SELECT allocated_quantity AS n FROM batches WHERE reference = $1', [batch])).toBe(40);
    expect(await count(`SELECT count(*) AS n FROM outbox WHERE sku = $1 AND name = 'Allocated'`, [sku])).toBe(20);
  });
});

/** One request on a connection of its own, closed after the answer: nothing stays open after the test. */
function send(url: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? '' : JSON.stringify(body);
    const req = http.request(`${url}${path}`, { method, agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (data += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(data) as Answer['body'] }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}
