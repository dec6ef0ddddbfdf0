import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApp, type TestApp } from '../support/app.js';
import { unique } from '../support/config.js';

describe('GET /metrics: HTTP and database pool', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  const count = (text: string, labels: string) =>
    Number(new RegExp(`^http_request_duration_seconds_count\\{${labels.replace(/[/:]/g, (c) => `\\${c}`)}\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);

  it('times requests by method, route template and status, never by raw id', async () => {
    const before = (await t.http.get('/metrics')).text;
    const [sku, ref] = [unique('HTTPM'), unique('b')];
    const orders = [unique('o'), unique('o'), unique('o')];
    await t.http.post('/add_batch').send({ ref, sku, qty: 10 }).expect(201);
    for (const orderid of orders) await t.http.post('/allocate').send({ orderid, sku, qty: 1 }).expect(202);
    for (const orderid of orders) await t.http.get(`/allocations/${orderid}`).expect(200);
    await t.http.get(`/allocations/${unique('none')}`).expect(404);
    await t.http.get('/no/such/route').expect(404);

    const after = (await t.http.get('/metrics')).text;
    const delta = (labels: string) => count(after, labels) - count(before, labels);
    expect(delta('method="POST",route="/allocate",status="202"')).toBe(3);
    expect(delta('method="GET",route="/allocations/:orderid",status="200"')).toBe(3);
    expect(delta('method="GET",route="/allocations/:orderid",status="404"')).toBe(1);
    expect(delta('method="GET",route="none",status="404"')).toBe(1);
    for (const orderid of orders) expect(after).not.toContain(orderid);
    expect(after).toMatch(/^http_request_duration_seconds_bucket\{le="0\.005",method="POST",route="\/allocate",status="202"\} \d+$/m);
  });

  it('reports the database pool of the instance', async () => {
    const text = (await t.http.get('/metrics')).text;
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('allocation_db_pool_connections')).toBeGreaterThanOrEqual(1);
    expect(value('allocation_db_pool_idle')).toBeGreaterThanOrEqual(0);
    expect(value('allocation_db_pool_waiting')).toBe(0);
  });
});
