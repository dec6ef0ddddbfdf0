import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import { ChangeBatchQuantityConsumer } from '../../src/external-events/change-batch-quantity.consumer.js';
import { eventually, startTestApp, type TestApp } from '../support/app.js';
import { unique } from '../support/config.js';
import { describeWithRedis, listen, OwnRedisServer } from '../support/redis.js';

const fast = { EVENT_HANDLER_BACKOFF_MS: '20', EVENT_HANDLER_BACKOFF_MAX_MS: '200', EVENT_HANDLER_MAX_ATTEMPTS: '50', OUTBOX_POLL_MS: '50' };

async function onServer(query: string): Promise<void> {
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  try {
    await client.query(query);
  } finally {
    await client.end();
  }
}

describeWithRedis('two deployments on one Redis, each with its own REDIS_KEY_PREFIX', () => {
  let redis: OwnRedisServer;
  let client: Redis;
  let alpha: TestApp;
  let beta: TestApp;
  let betaDatabase: string;

  beforeAll(async () => {
    redis = await OwnRedisServer.start();
    client = new Redis(redis.url);
    // Two deployments: each has its own database too (sharing one, they would share the outbox). Here
    // DATABASE_URL already names this file's own database.
    const betaUrl = new URL(process.env.DATABASE_URL!);
    betaDatabase = `${betaUrl.pathname.slice(1)}_beta`;
    betaUrl.pathname = `/${betaDatabase}`;
    await onServer(`CREATE DATABASE ${betaDatabase}`);
    alpha = await startTestApp({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'alpha:', ...fast });
    beta = await startTestApp({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'beta:', DATABASE_URL: betaUrl.toString(), ...fast });
  });
  afterAll(async () => {
    client?.disconnect();
    await alpha?.close();
    await beta?.close();
    await redis?.stop();
    if (betaDatabase) await onServer(`DROP DATABASE IF EXISTS ${betaDatabase} WITH (FORCE)`);
  });

  it('both hold their own consumer-leader lock', async () => {
    await eventually(async () => {
      expect(alpha.app.get(ChangeBatchQuantityConsumer).isLeader).toBe(true);
      expect(beta.app.get(ChangeBatchQuantityConsumer).isLeader).toBe(true);
    }, 15_000);
    expect(await client.exists('alpha:allocation-service:consumer-leader:change_batch_quantity')).toBe(1);
    expect(await client.exists('beta:allocation-service:consumer-leader:change_batch_quantity')).toBe(1);
  });

  it('each consumes only its own <prefix>change_batch_quantity', async () => {
    // The same batch in both deployments, so a message consumed by the wrong one would show.
    const sku = unique('PREFIXED');
    const ref = unique('b');
    for (const t of [alpha, beta]) await t.http.post('/add_batch').send({ ref, sku, qty: 10 }).expect(201);
    const versions = await Promise.all([alpha, beta].map(async (t) => (await t.http.get(`/products/${sku}`)).body.version as number));
    await eventually(async () => {
      expect(alpha.app.get(ChangeBatchQuantityConsumer).isLeader && beta.app.get(ChangeBatchQuantityConsumer).isLeader).toBe(true);
    }, 15_000);

    await client.publish('change_batch_quantity', JSON.stringify({ batchref: ref, qty: 1 })); // nobody's
    await client.publish('beta:change_batch_quantity', JSON.stringify({ batchref: ref, qty: 6 }));
    await client.publish('alpha:change_batch_quantity', JSON.stringify({ batchref: ref, qty: 4 }));

    await eventually(async () => {
      expect((await alpha.http.get(`/products/${sku}`)).body.batches[0].qty).toBe(4);
      expect((await beta.http.get(`/products/${sku}`)).body.batches[0].qty).toBe(6);
    });
    // One change each: neither applied the other's message nor the unprefixed one.
    const after = await Promise.all([alpha, beta].map(async (t) => (await t.http.get(`/products/${sku}`)).body.version as number));
    expect(after).toEqual(versions.map((v) => v + 1));
  });

  it('each publishes <prefix>line_allocated, and every key it keeps carries its prefix', async () => {
    const channels = ['alpha:line_allocated', 'beta:line_allocated', 'line_allocated'];
    const [toAlpha, toBeta, unprefixed] = await Promise.all(channels.map((c) => listen(redis.url, c)));
    try {
      const sku = unique('PUBLISHED');
      const orders = { alpha: unique('oa'), beta: unique('ob') };
      for (const [t, orderid] of [[alpha, orders.alpha], [beta, orders.beta]] as const) {
        await t.http.post('/add_batch').send({ ref: unique('b'), sku, qty: 10 }).expect(201);
        await t.http.post('/allocate').send({ orderid, sku, qty: 1 }).expect(202);
      }
      await eventually(async () => {
        expect(toAlpha.messages.map((m) => m.orderid)).toContain(orders.alpha);
        expect(toBeta.messages.map((m) => m.orderid)).toContain(orders.beta);
      });
      expect(toAlpha.messages.filter((m) => m.sku === sku).map((m) => m.orderid)).toEqual([orders.alpha]);
      expect(toBeta.messages.filter((m) => m.sku === sku).map((m) => m.orderid)).toEqual([orders.beta]);
      expect(unprefixed.raw).toEqual([]);

      const keys = await client.keys('*');
      expect(keys.length).toBeGreaterThan(0);
      expect(keys.filter((k) => !k.startsWith('alpha:') && !k.startsWith('beta:'))).toEqual([]);
    } finally {
      for (const l of [toAlpha, toBeta, unprefixed]) l.close();
    }
  });
});
