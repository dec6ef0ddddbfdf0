import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { eventually, startTestApp, type TestApp } from '../support/app.js';
import { unique } from '../support/config.js';
import { describeWithRedis, OwnRedisServer } from '../support/redis.js';

describe('health probes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t?.close());

  it('GET /health/live is 200 and checks no dependency', async () => {
    const res = await t.http.get('/health/live');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it.each(['/health/ready', '/health'])('GET %s is 200 and lists the database (and no Redis when none is configured)', async (route) => {
    const res = await t.http.get(route);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok', details: { database: { status: 'up' } } });
    expect(Object.keys(res.body.details)).toEqual(['database']);
  });

  it('reconnects when its own database connection is broken', async () => {
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    try {
      const healthBackends = () =>
        admin
          .query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'allocation-service-health'`)
          .then((r) => r.rows.map((row: { pid: number }) => row.pid));
      await t.http.get('/health/ready').expect(200); // opens it
      const [before] = await healthBackends();
      expect(before).toBeDefined();
      await admin.query('SELECT pg_terminate_backend($1)', [before]);
      await eventually(async () => expect((await t.http.get('/health/ready')).status).toBe(200));
      const after = await healthBackends();
      expect(after).toHaveLength(1);
      expect(after[0]).not.toBe(before);
    } finally {
      await admin.end();
    }
  });

  it('documents both probes and their answers in the OpenAPI document', async () => {
    const paths = (await t.http.get('/docs-json')).body.paths;
    expect(Object.keys(paths['/health/live'].get.responses)).toEqual(['200']);
    expect(Object.keys(paths['/health/ready'].get.responses)).toEqual(expect.arrayContaining(['200', '503']));
    expect(Object.keys(paths['/health'].get.responses)).toEqual(expect.arrayContaining(['200', '503']));
  });
});

describe('readiness while request traffic holds every pooled connection', () => {
  let t: TestApp;
  let locker: pg.Client;
  beforeAll(async () => {
    t = await startTestApp({ DATABASE_POOL_SIZE: '2' });
    locker = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await locker.connect();
  });
  afterAll(async () => {
    await locker?.end();
    await t?.close();
  });

  it('GET /health/ready is 200 while two requests wait on a row lock with a pool of 2', async () => {
    // Two SKUs: allocations of one SKU would share one unit of work, and one connection.
    const skus = [unique('LOCKED'), unique('LOCKED')];
    for (const sku of skus) await t.http.post('/add_batch').send({ ref: unique('b'), sku, qty: 10 }).expect(201);
    await locker.query('BEGIN');
    await locker.query('SELECT 1 FROM products WHERE sku = ANY($1) FOR UPDATE', [skus]);
    const blocked = skus.map((sku) => t.http.post('/allocate').send({ orderid: unique('o'), sku, qty: 1 }).then((r) => r.status));
    try {
      // Both pooled connections are taken once both requests wait on the lock.
      await eventually(async () => {
        const { rows } = await locker.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        );
        expect(rows[0].n).toBe(2);
      });
      for (const route of ['/health/ready', '/health']) {
        const res = await t.http.get(route);
        expect({ route, status: res.status, database: res.body.details?.database?.status }).toEqual({ route, status: 200, database: 'up' });
      }
    } finally {
      await locker.query('ROLLBACK');
      await Promise.all(blocked);
    }
  });
});

describeWithRedis('readiness with a hung Redis (a redis-server of the test\'s own, SIGSTOPped)', () => {
  let redis: OwnRedisServer;
  let t: TestApp;
  beforeAll(async () => {
    redis = await OwnRedisServer.start();
    t = await startTestApp({ REDIS_URL: redis.url });
  });
  afterAll(async () => {
    redis?.resume(); // a frozen Redis would hold app.close() (its QUIT) until the connection times out
    await t?.close();
    await redis?.stop();
  });

  it('lists Redis as down, answers 200 from the database alone, and is not held past the 1 s bound', async () => {
    await eventually(async () => expect((await t.http.get('/health/ready')).body.details?.redis?.status).toBe('up'));
    redis.pause();
    try {
      const started = Date.now();
      const res = await t.http.get('/health/ready');
      const elapsed = Date.now() - started;
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('degraded');
      expect(res.body.details).toMatchObject({ database: { status: 'up' }, redis: { status: 'down', message: expect.stringMatching(/timeout/) } });
      // The Redis check gives up at 1 s; a hung ping used to hold the answer for 2 s (its command timeout).
      expect(elapsed).toBeLessThan(1900);
    } finally {
      redis.resume();
    }
    await eventually(async () => expect((await t.http.get('/health/ready')).body.details?.redis?.status).toBe('up'));
  });
});
