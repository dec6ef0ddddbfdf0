import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { ChangeBatchQuantityConsumer } from '../../src/external-events/change-batch-quantity.consumer.js';
import { Metrics } from '../../src/messaging/metrics.js';
import { metricValue } from '../support/metrics.js';
import { eventually, startTestApp, type TestApp } from '../support/app.js';
import { unique } from '../support/config.js';
import { describeWithRedis, listen, OwnRedisServer, TcpProxy, redisUrl } from '../support/redis.js';

const ADMIN = 'redis-admin';
const fast = { EVENT_HANDLER_BACKOFF_MS: '20', EVENT_HANDLER_BACKOFF_MAX_MS: '200', EVENT_HANDLER_MAX_ATTEMPTS: '50', OUTBOX_POLL_MS: '50' };

async function leaderOf(apps: TestApp[]): Promise<TestApp> {
  return eventually(async () => {
    const leader = apps.find((t) => t.app.get(ChangeBatchQuantityConsumer).isLeader);
    if (!leader) throw new Error('no leader yet');
    return leader;
  });
}

describeWithRedis('external events over Redis (the book\'s channels)', () => {
  let t: TestApp;
  let publisher: Redis;

  beforeAll(async () => {
    t = await startTestApp({ REDIS_URL: redisUrl, ADMIN_TOKEN: ADMIN, ...fast });
    publisher = new Redis(redisUrl!);
    await leaderOf([t]);
  });
  afterAll(async () => {
    publisher?.disconnect();
    await t?.close();
  });

  it('a change_batch_quantity below what is allocated leads to line_allocated for the reallocated line', async () => {
    const sku = unique('REDIS-SKU');
    const [earlier, later] = [unique('earlier'), unique('later')];
    const orderid = unique('order');
    const out = await listen(redisUrl!, 'line_allocated');
    try {
      await t.http.post('/add_batch').send({ ref: earlier, sku, qty: 10, eta: '2011-01-01' }).expect(201);
      await t.http.post('/add_batch').send({ ref: later, sku, qty: 10, eta: '2011-01-02' }).expect(201);
      expect((await t.http.post('/allocate').send({ orderid, sku, qty: 10 })).body).toEqual({ batchref: earlier });
      await eventually(async () => expect(out.messages).toContainEqual({ orderid, sku, qty: 10, batchref: earlier }));

      await publisher.publish('change_batch_quantity', JSON.stringify({ batchref: earlier, qty: 5 }));

      await eventually(async () => expect(out.messages).toContainEqual({ orderid, sku, qty: 10, batchref: later }));
      expect(out.messages.filter((m) => m.orderid === orderid)).toHaveLength(2);
      expect((await t.http.get(`/allocations/${orderid}`)).body).toEqual([{ sku, batchref: later }]);
    } finally {
      out.close();
    }
  });

  it('tells every cancel on the allocation_cancelled channel and stream, once each, with its event id', async () => {
    const sku = unique('CANCEL-REDIS');
    const ref = unique('b');
    const orders = Array.from({ length: 3 }, () => unique('o'));
    const out = await listen(redisUrl!, 'allocation_cancelled');
    try {
      await t.http.post('/add_batch').send({ ref, sku, qty: 10 }).expect(201);
      for (const orderid of orders) await t.http.post('/allocate').send({ orderid, sku, qty: 2 }).expect(202);
      for (const orderid of orders) await t.http.post('/cancel_allocation').send({ orderid, sku }).expect(200);

      const expected = orders.map((orderid) => ({ orderid, sku, qty: 2, batchref: ref }));
      await eventually(async () => expect(out.messages.filter((m) => m.sku === sku)).toEqual(expected));
      const events: { event_id: string }[] = await t.app
        .get(DataSource)
        .query(`SELECT event_id FROM outbox WHERE sku = $1 AND name = 'AllocationCancelled' ORDER BY id`, [sku]);
      expect(events).toHaveLength(3);
      await eventually(async () => {
        const entries = (await publisher.xrange('allocation_cancelled', '-', '+'))
          .map(([, f]) => ({ data: JSON.parse(f[f.indexOf('data') + 1]) as Record<string, unknown>, eventId: f[f.indexOf('event_id') + 1] }))
          .filter((e) => e.data.sku === sku);
        expect(entries.map((e) => e.data)).toEqual(expected);
        expect(entries.map((e) => e.eventId)).toEqual(events.map((e) => e.event_id));
      });
    } finally {
      out.close();
    }
  });

  it('counts and dead-letters malformed messages, and still processes the next good one', async () => {
    const metrics = t.app.get(Metrics);
    const channel = { channel: 'change_batch_quantity' };
    const before = {
      malformed: await metricValue(metrics.inbound, { ...channel, outcome: 'malformed' }),
      rejected: await metricValue(metrics.inbound, { ...channel, outcome: 'rejected' }),
    };
    const ghost = unique('ghost');
    const bad = ['not json at all', '{"batchref": 5, "qty": 1}', '{"batchref": "x"}', '{"batchref": "x", "qty": -1}', '[1,2]', '{"batchref": "lone-\\ud800", "qty": 1}', JSON.stringify({ batchref: ghost, qty: 3 })];
    for (const message of bad) await publisher.publish('change_batch_quantity', message);

    const sku = unique('AFTER-BAD');
    const ref = unique('b');
    await t.http.post('/add_batch').send({ ref, sku, qty: 10 }).expect(201);
    await publisher.publish('change_batch_quantity', JSON.stringify({ batchref: ref, qty: 7 }));
    await eventually(async () => expect((await t.http.get(`/products/${sku}`)).body.batches[0].qty).toBe(7));

    await eventually(async () => {
      expect(await metricValue(metrics.inbound, { ...channel, outcome: 'malformed' })).toBe(before.malformed + 6);
      expect(await metricValue(metrics.inbound, { ...channel, outcome: 'rejected' })).toBe(before.rejected + 1);
    });
    const mine = await eventually(async () => {
      const letters = (await t.http.get('/admin/failed-events?limit=500').set('Authorization', `Bearer ${ADMIN}`)).body.items as {
        handler: string;
        payload: { data: string };
        lastError: string;
        attempts: number;
      }[];
      const found = letters.filter((l) => l.handler === 'ChangeBatchQuantityConsumer' && bad.includes(l.payload.data));
      expect(found).toHaveLength(bad.length);
      return found;
    });
    expect(mine.find((l) => l.payload.data === 'not json at all')?.lastError).toMatch(/MalformedMessage/);
    expect(mine.find((l) => l.payload.data.includes(ghost))?.lastError).toMatch(/UnknownBatch/);
    // An unpaired surrogate is malformed, not transient: a dead letter at the first attempt.
    expect(mine.find((l) => l.payload.data.includes('lone-'))).toMatchObject({ attempts: 1, lastError: expect.stringMatching(/MalformedMessage/) });
  });

  it('reports Redis in GET /health', async () => {
    const res = await t.http.get('/health');
    expect(res.status).toBe(200);
    expect(res.body.details).toMatchObject({ database: { status: 'up' }, redis: { status: 'up' } });
  });
});

describeWithRedis('Redis outages (a redis-server of the test\'s own)', () => {
  let redis: OwnRedisServer;
  let proxy: TcpProxy;
  let t: TestApp;

  beforeAll(async () => {
    redis = await OwnRedisServer.start();
    // The service reaches Redis through a proxy that the test cuts: an outage for the service alone, so
    // that the test's own subscriber (pub/sub keeps nothing for the disconnected) misses no message.
    proxy = await TcpProxy.start(redis.port);
    t = await startTestApp({ REDIS_URL: proxy.through(redis.url), ...fast });
  });
  afterAll(async () => {
    await t?.close();
    await proxy?.down();
    await redis?.stop();
  });

  it('allocations succeed while Redis is down, and every line_allocated arrives once it is back, on the channel and the stream', async () => {
    const out = await listen(redis.url, 'line_allocated');
    try {
      const sku = unique('OUTAGE');
      const ref = unique('b');
      await t.http.post('/add_batch').send({ ref, sku, qty: 100 }).expect(201);

      await proxy.down();
      const health = await t.http.get('/health');
      expect(health.status).toBe(200); // only the database decides
      expect(health.body.details.redis).toMatchObject({ status: 'down' });

      const orders = Array.from({ length: 5 }, () => unique('o'));
      for (const orderid of orders) {
        expect((await t.http.post('/allocate').send({ orderid, sku, qty: 1 })).status).toBe(202);
      }
      await new Promise((r) => setTimeout(r, 300)); // a few failed attempts while it is down

      await proxy.up();
      await eventually(async () => {
        const received = out.messages.filter((m) => m.sku === sku);
        expect(received.map((m) => m.orderid).sort()).toEqual([...orders].sort());
      });
      expect(out.messages.filter((m) => m.sku === sku).every((m) => m.batchref === ref && m.qty === 1)).toBe(true);

      // The stream too: one entry per Allocated event, with its event id.
      const events: { event_id: string; orderid: string }[] = await t.app
        .get(DataSource)
        .query(`SELECT event_id, payload->>'orderid' AS orderid FROM outbox WHERE sku = $1 AND name = 'Allocated'`, [sku]);
      expect(events).toHaveLength(5);
      const reader = new Redis(redis.url);
      try {
        await eventually(async () => {
          const entries = (await reader.xrange('line_allocated', '-', '+')).map(([, f]) => ({ data: JSON.parse(f[f.indexOf('data') + 1]), eventId: f[f.indexOf('event_id') + 1] }));
          const ours = entries.filter((e) => e.data.sku === sku);
          expect(ours.map((e) => e.eventId).sort()).toEqual(events.map((e) => e.event_id).sort());
          for (const e of ours) expect(e.data).toEqual({ orderid: events.find((x) => x.event_id === e.eventId)!.orderid, sku, qty: 1, batchref: ref });
        });
      } finally {
        reader.disconnect();
      }
    } finally {
      out.close();
    }
  });
});

describeWithRedis('two instances on one database and one Redis', () => {
  let redis: OwnRedisServer;
  let apps: TestApp[];

  beforeAll(async () => {
    redis = await OwnRedisServer.start(); // its own, so that no other instance holds the consumer lock
    apps = [await startTestApp({ REDIS_URL: redis.url, ...fast }), await startTestApp({ REDIS_URL: redis.url, ...fast })];
  });
  afterAll(async () => {
    for (const t of apps ?? []) await t.close();
    await redis?.stop();
  });

  it('keep allocations correct and publish each event once', async () => {
    const out = await listen(redis.url, 'line_allocated');
    try {
      const sku = unique('TWIN');
      await apps[0].http.post('/add_batch').send({ ref: unique('w'), sku, qty: 12 }).expect(201);
      await apps[1].http.post('/add_batch').send({ ref: unique('s'), sku, qty: 8, eta: '2030-01-01' }).expect(201);
      const orders = Array.from({ length: 30 }, (_, i) => ({ orderid: unique(`o${i}`), t: apps[i % 2] }));
      const answers = await Promise.all(orders.map(({ orderid, t }) => t.http.post('/allocate').send({ orderid, sku, qty: 1 })));
      expect(answers.map((a) => a.status).sort()).toEqual([...Array(20).fill(202), ...Array(10).fill(409)]);
      const allocated = orders.filter((_, i) => answers[i].status === 202).map((o) => o.orderid);

      const product = (await apps[1].http.get(`/products/${sku}`)).body;
      for (const b of product.batches) expect(b.allocated).toBeLessThanOrEqual(b.qty);
      expect(product.batches.reduce((n: number, b: { allocated: number }) => n + b.allocated, 0)).toBe(20);

      await eventually(async () => expect(out.messages.filter((m) => m.sku === sku)).toHaveLength(20));
      await new Promise((r) => setTimeout(r, 300)); // and no duplicate trails in
      const received = out.messages.filter((m) => m.sku === sku).map((m) => m.orderid as string);
      expect(received.sort()).toEqual(allocated.sort());
    } finally {
      out.close();
    }
  });

  it('process an inbound message once: only the leader consumes', async () => {
    const leader = await leaderOf(apps);
    expect(apps.filter((t) => t.app.get(ChangeBatchQuantityConsumer).isLeader)).toEqual([leader]);
    const metrics = leader.app.get(Metrics);
    const labels = { channel: 'change_batch_quantity', outcome: 'processed' };
    const before = await metricValue(metrics.inbound, labels); // both apps share this process's registry

    const sku = unique('ONCE');
    const ref = unique('b');
    await apps[0].http.post('/add_batch').send({ ref, sku, qty: 10 }).expect(201);
    const version = (await apps[0].http.get(`/products/${sku}`)).body.version;
    const client = new Redis(redis.url);
    await client.publish('change_batch_quantity', JSON.stringify({ batchref: ref, qty: 4 }));
    client.disconnect();

    await eventually(async () => expect((await apps[0].http.get(`/products/${sku}`)).body.batches[0].qty).toBe(4));
    await new Promise((r) => setTimeout(r, 300));
    expect(await metricValue(metrics.inbound, labels)).toBe(before + 1);
    expect((await apps[1].http.get(`/products/${sku}`)).body.version).toBe(version + 1);
  });
});
