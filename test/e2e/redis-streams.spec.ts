import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { CommandBus } from '@nestjs/cqrs';
import { Redis } from 'ioredis';
import { type Counter, register } from 'prom-client';
import { DataSource } from 'typeorm';
import { freePort } from '../../src/database/embedded-postgres.js';
import { ChangeBatchQuantity } from '../../src/allocation/commands/change-batch-quantity/change-batch-quantity.command.js';
import { ChangeBatchQuantityStreamConsumer } from '../../src/external-events/change-batch-quantity.stream-consumer.js';
import { StreamEntryReceived } from '../../src/external-events/stream-entry-received.js';
import { StreamInbox } from '../../src/external-events/stream-inbox.js';
import { eventually, startTestApp, type TestApp } from '../support/app.js';
import { unique } from '../support/config.js';
import { metricValue } from '../support/metrics.js';
import { alive } from '../support/processes.js';
import { describeWithRedis, OwnRedisServer, redisUrl, TcpProxy } from '../support/redis.js';

const GROUP = 'allocation-service';
const STREAM = 'change_batch_quantity';
const ADMIN = 'streams-admin';
const fast = { EVENT_HANDLER_BACKOFF_MS: '20', EVENT_HANDLER_BACKOFF_MAX_MS: '200', EVENT_HANDLER_MAX_ATTEMPTS: '50', OUTBOX_POLL_MS: '50', REDIS_CLAIM_IDLE_MS: '300' };

/** Each test's streams under a prefix of its own: no other instance reads them. */
const newPrefix = () => `${unique('streams')}:`;

async function add(redis: Redis, key: string, data: unknown): Promise<string> {
  return (await redis.xadd(key, '*', 'data', typeof data === 'string' ? data : JSON.stringify(data)))!;
}

async function pending(redis: Redis, key: string): Promise<number> {
  const [count] = (await redis.xpending(key, GROUP)) as [number];
  return Number(count);
}

async function consumers(redis: Redis, key: string): Promise<{ name: string; pending: number }[]> {
  const list = (await redis.call('XINFO', 'CONSUMERS', key, GROUP)) as (string | number)[][];
  return list.map((c) => ({ name: String(c[c.indexOf('name') + 1]), pending: Number(c[c.indexOf('pending') + 1]) }));
}

describeWithRedis('Redis Streams: change_batch_quantity in, through consumer group allocation-service', () => {
  /** Creates the batches and reads them back; no Redis, so it consumes nothing. */
  let base: TestApp;
  let redis: Redis;
  const apps: TestApp[] = [];
  const start = async (env: Record<string, string>) => {
    const t = await startTestApp({ REDIS_URL: redisUrl, ADMIN_TOKEN: ADMIN, ...fast, ...env });
    apps.push(t);
    return t;
  };
  const stop = async (t: TestApp) => {
    apps.splice(apps.indexOf(t), 1);
    await t.close();
  };

  async function batches(count: number, qty = 10): Promise<{ sku: string; refs: string[] }> {
    const sku = unique('STREAM');
    const refs = Array.from({ length: count }, () => unique('sb'));
    for (const ref of refs) await base.http.post('/add_batch').send({ ref, sku, qty }).expect(201);
    return { sku, refs };
  }

  async function quantities(sku: string): Promise<Record<string, number>> {
    const res = await base.http.get(`/products/${sku}`).expect(200);
    return Object.fromEntries((res.body.batches as { ref: string; qty: number }[]).map((b) => [b.ref, b.qty]));
  }

  // A process-wide counter: what each test adds to it is its own (the tests of a file run one at a time).
  // Baselines are read before the instance starts: it may apply (or claim) entries during its start already.
  const entries = async (outcome: string) => {
    const metric = register.getSingleMetric('allocation_stream_entries_total') as Counter<string> | undefined;
    return metric ? metricValue(metric, { stream: STREAM, outcome }) : 0; // none yet: no instance with Redis has run
  };

  beforeAll(async () => {
    base = await startTestApp();
    redis = new Redis(redisUrl!);
  });
  afterAll(async () => {
    jest.restoreAllMocks();
    for (const t of [...apps]) await stop(t);
    redis?.disconnect();
    await base?.close();
  });

  it('applies every entry added while no instance was running, once one starts', async () => {
    const prefix = newPrefix();
    const { sku, refs } = await batches(100);
    const ids = [];
    for (const [i, ref] of refs.entries()) ids.push(await add(redis, `${prefix}${STREAM}`, { batchref: ref, qty: i + 1 }));
    expect(new Set(ids).size).toBe(100);

    const applied = await entries('applied');
    const t = await start({ REDIS_KEY_PREFIX: prefix });
    await eventually(async () => expect(await quantities(sku)).toEqual(Object.fromEntries(refs.map((ref, i) => [ref, i + 1]))));
    await eventually(async () => expect(await pending(redis, `${prefix}${STREAM}`)).toBe(0));
    await eventually(async () => expect((await entries('applied')) - applied).toBe(100));
    await stop(t);
  });

  it('claims and applies the entries an instance killed with kill -9 left pending', async () => {
    const prefix = newPrefix();
    const key = `${prefix}${STREAM}`;
    const { sku, refs } = await batches(20);
    // The doomed instance reaches PostgreSQL through a proxy the test cuts: it reads entries and cannot
    // store them, so they stay pending with it. Then it is killed.
    const pg = new URL(process.env.DATABASE_URL!);
    const proxy = await TcpProxy.start(Number(pg.port));
    const port = await freePort();
    const child: ChildProcess = spawn(process.execPath, [path.resolve('dist', 'src', 'main.js')], {
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: proxy.through(pg.toString()), REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix, PORT: String(port), LOG_LEVEL: 'silent' },
      stdio: 'ignore',
    });
    try {
      await eventually(async () => expect(await consumers(redis, key)).toHaveLength(1), 60_000);
      await proxy.down();
      // All at once, so that its next read takes them all.
      const multi = redis.multi();
      for (const [i, ref] of refs.entries()) multi.xadd(key, '*', 'data', JSON.stringify({ batchref: ref, qty: 100 + i }));
      await multi.exec();
      await eventually(async () => expect(await consumers(redis, key)).toEqual([expect.objectContaining({ pending: 20 })]));
      child.kill('SIGKILL');
      await eventually(async () => expect(alive(child.pid!)).toBe(false));

      await start({ REDIS_KEY_PREFIX: prefix });
      await eventually(async () => expect(await quantities(sku)).toEqual(Object.fromEntries(refs.map((ref, i) => [ref, 100 + i]))));
      await eventually(async () => expect(await pending(redis, key)).toBe(0));
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await proxy.down();
    }
  });

  it('never lets an older entry claimed late overwrite a newer one', async () => {
    const prefix = newPrefix();
    const key = `${prefix}${STREAM}`;
    const { sku, refs: [ref] } = await batches(1);
    await redis.xgroup('CREATE', key, GROUP, '0', 'MKSTREAM');
    const older = await add(redis, key, { batchref: ref, qty: 5 });
    const newer = await add(redis, key, { batchref: ref, qty: 7 });
    // A consumer takes the older entry, and stays alive (it keeps the entry fresh) until the newer one is
    // applied; then it dies, and the entry is claimed once idle.
    const taken = (await redis.xreadgroup('GROUP', GROUP, 'dead-consumer', 'COUNT', 1, 'STREAMS', key, '>')) as [string, [string, string[]][]][];
    expect(taken[0][1].map(([id]) => id)).toEqual([older]);
    let alive = true;
    const keepFresh = (async () => {
      while (alive) {
        await redis.xclaim(key, GROUP, 'dead-consumer', 0, older, 'JUSTID');
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    const superseded = await entries('superseded');
    const t = await start({ REDIS_KEY_PREFIX: prefix, REDIS_CLAIM_IDLE_MS: '2000' });
    try {
      await eventually(async () => expect(await quantities(sku)).toEqual({ [ref]: 7 }));
    } finally {
      alive = false;
      await keepFresh;
    }
    await eventually(async () => expect(await pending(redis, key)).toBe(0)); // the older one was claimed and acknowledged
    await eventually(async () => expect((await entries('superseded')) - superseded).toBe(1));
    expect(await quantities(sku)).toEqual({ [ref]: 7 });
    const stored = await t.app.get(DataSource).query(`SELECT payload->>'entryId' AS id FROM outbox WHERE name = 'StreamEntryReceived' AND payload->>'data' LIKE $1`, [`%${ref}%`]);
    expect(stored).toEqual([{ id: newer }]);
    await stop(t);
  });

  it('applies the newest quantity whatever the order in which stored entries are applied', async () => {
    const t = await start({ REDIS_KEY_PREFIX: newPrefix() });
    const inbox = t.app.get(StreamInbox);
    const consumer = t.app.get(ChangeBatchQuantityStreamConsumer);
    const { sku, refs: [ref] } = await batches(1);
    const entry = (id: string, qty: number) => new StreamEntryReceived(STREAM, id, JSON.stringify({ batchref: ref, qty }));
    const [e1, e2, e3] = [entry('1000-1', 1), entry('1000-2', 2), entry('2000-0', 3)];

    // Received out of order: the older one is superseded; received again, a duplicate.
    expect((await inbox.receive(e2, ref, 1000)).outcome).toBe('stored');
    expect(await inbox.receive(e1, ref, 1000)).toEqual({ outcome: 'superseded' });
    expect(await inbox.receive(e2, ref, 1000)).toEqual({ outcome: 'duplicate' });

    // Stored in order, applied in reverse: the newest wins.
    expect((await inbox.receive(e3, ref, 1000)).outcome).toBe('stored');
    await consumer.apply(e3);
    await consumer.apply(e2);
    expect(await quantities(sku)).toEqual({ [ref]: 3 });

    // A newer entry is received and applied while an older one's command is still on its way to commit:
    // the older one's delivery sees it afterwards and applies it again, so the newest is what stays.
    const e4 = entry('3000-0', 4);
    const e5 = entry('4000-0', 5);
    await inbox.receive(e4, ref, 1000);
    const bus = t.app.get(CommandBus);
    const execute = bus.execute.bind(bus);
    let overtaken = false;
    const spy = jest.spyOn(bus, 'execute').mockImplementation(async (command) => {
      if (!overtaken) {
        overtaken = true;
        await inbox.receive(e5, ref, 1000);
        await consumer.apply(e5); // commits qty 5 first
      }
      return execute(command); // then the stale qty 4 commits
    });
    try {
      await consumer.apply(e4);
    } finally {
      spy.mockRestore();
    }
    expect(await quantities(sku)).toEqual({ [ref]: 5 });

    // A delivery that committed an older quantity and then failed (or whose process died) is retried: the
    // retry sets the newest quantity, it does not give up as superseded and leave the older one standing.
    const e6 = entry('6000-0', 6);
    await inbox.receive(e6, ref, 1000);
    await bus.execute(new ChangeBatchQuantity(ref, 4)); // what the failed delivery of e4 had left
    await consumer.apply(e4); // its retry
    expect(await quantities(sku)).toEqual({ [ref]: 6 });
    await stop(t);
  });

  it('dead-letters malformed and rejected entries, acknowledges them, and counts each outcome', async () => {
    const prefix = newPrefix();
    const key = `${prefix}${STREAM}`;
    const t = await start({ REDIS_KEY_PREFIX: prefix });
    const before = { malformed: await entries('malformed'), rejected: await entries('rejected') };
    const unknown = unique('no-such-batch');
    await add(redis, key, 'not json');
    await add(redis, key, { batchref: '', qty: 1 });
    await add(redis, key, { batchref: unknown, qty: 1 });
    await redis.xadd(key, '*', 'something', 'else'); // no data field at all
    // Data PostgreSQL cannot store as it is (a raw NUL) must not block the stream. (An unpaired surrogate
    // cannot arrive: Redis data is UTF-8 bytes, and invalid sequences are decoded to U+FFFD.)
    await add(redis, key, `{"batchref": "nul\u0000", "qty": 1}`);
    const { sku, refs: [after] } = await batches(1);
    await add(redis, key, { batchref: after, qty: 3 }); // the next good entry is applied

    await eventually(async () => expect(await quantities(sku)).toEqual({ [after]: 3 }));
    await eventually(async () => {
      expect((await entries('malformed')) - before.malformed).toBe(4);
      expect((await entries('rejected')) - before.rejected).toBe(1);
      expect(await pending(redis, key)).toBe(0);
    });
    // Counted as it fails; stored as a dead letter right after.
    await eventually(async () => {
      const letters = await t.http.get('/admin/failed-events').set('Authorization', `Bearer ${ADMIN}`).expect(200);
      const ours = (letters.body.items as { handler: string; payload: { data: string } }[]).filter((l) => l.handler === 'ChangeBatchQuantityStreamConsumer');
      expect(ours.map((l) => l.payload.data)).toEqual(expect.arrayContaining(['not json', '', JSON.stringify({ batchref: unknown, qty: 1 }), '{"batchref": "nul\ufffd", "qty": 1}']));
    });
    await stop(t);
  });

  it('reports the group\'s pending entries and lag on /metrics', async () => {
    const prefix = newPrefix();
    const t = await start({ REDIS_KEY_PREFIX: prefix });
    await eventually(async () => expect(await consumers(redis, `${prefix}${STREAM}`)).toHaveLength(1));
    const text = (await t.http.get('/metrics').expect(200)).text;
    expect(text).toMatch(/^allocation_stream_pending\{stream="change_batch_quantity"\} 0$/m);
    expect(text).toMatch(/^allocation_stream_lag\{stream="change_batch_quantity"\} 0$/m);
    await stop(t);
  });
});

describeWithRedis('Redis Streams across a Redis restart (a redis-server of the test\'s own, with an append-only file)', () => {
  let server: OwnRedisServer;
  let base: TestApp;
  let t: TestApp;

  beforeAll(async () => {
    server = await OwnRedisServer.start({ persistent: true });
    base = await startTestApp();
    t = await startTestApp({ REDIS_URL: server.url, ...fast });
  });
  afterAll(async () => {
    await t?.close();
    await base?.close();
    await server?.close();
  });

  it('loses no acknowledged entry, and resumes consuming', async () => {
    const sku = unique('RESTART');
    const refs = Array.from({ length: 60 }, () => unique('rb'));
    for (const ref of refs) await base.http.post('/add_batch').send({ ref, sku, qty: 1 }).expect(201);
    const producer = new Redis(server.url, { retryStrategy: () => 50, maxRetriesPerRequest: 0 });
    producer.on('error', () => undefined);
    try {
      let restart: Promise<void> | undefined;
      for (const [i, ref] of refs.entries()) {
        if (i === 30) restart = server.stop().then(() => new Promise((r) => setTimeout(r, 300))).then(() => server.start());
        // An integrator's producer: it adds the entry again until Redis acknowledges it.
        await eventually(() => producer.xadd(STREAM, '*', 'data', JSON.stringify({ batchref: ref, qty: 50 + i })));
      }
      await restart;
      await eventually(async () => {
        const res = await base.http.get(`/products/${sku}`).expect(200);
        const qty = Object.fromEntries((res.body.batches as { ref: string; qty: number }[]).map((b) => [b.ref, b.qty]));
        expect(qty).toEqual(Object.fromEntries(refs.map((ref, i) => [ref, 50 + i])));
      }, 40_000);
      await eventually(async () => expect(Number(((await producer.xpending(STREAM, GROUP)) as [number])[0])).toBe(0));
    } finally {
      producer.disconnect();
    }
  });
});
