/**
 * `npm run bench`: builds and starts the service in production mode on a fresh database, seeds it, drives it
 * with autocannon over loopback, prints a table, writes bench/results.json, and stops everything.
 *
 * BENCH_DURATION (seconds per run, default 15), BENCH_REPEAT (default 3), BENCH_SCENARIOS (a comma-separated
 * subset of many,hot,growth,history,pgbench,big-shrink,streams; default all), WEB_CONCURRENCY (workers of the service)
 * and DATABASE_URL (a server to create the bench database on; default: embedded) adjust it. The streams
 * scenario needs REDIS_URL (it is skipped, saying so, without it); the other scenarios run without Redis.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import pg from 'pg';
import { freePort, removeDataDir, startEmbeddedPostgres, type RunningPostgres } from '../src/database/embedded-postgres.js';

const DURATION = Number(process.env.BENCH_DURATION ?? 15);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const SKUS = 1000;
const AMPLE = 1_000_000_000;
const SCENARIOS = new Set((process.env.BENCH_SCENARIOS ?? 'many,hot,growth,history,pgbench,big-shrink,streams').split(',').map((s) => s.trim()));
const BIG_LINES = 50_000;
/** The stock of the SKU that sells out during its run (two batches of half each). */
const SELL_OUT_STOCK = 4000;
/** The batch-history SKU: this many batches, of which HISTORY_WITH_STOCK still have stock. */
const HISTORY_BATCHES = 10_000;
const HISTORY_WITH_STOCK = 10;

interface Run {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  fiveXX: number;
  /** 2xx answers in all. */
  ok?: number;
  /** What each allocation (2xx) cost the machine during the run, where /proc tells (Linux). */
  cost?: Cost;
}

interface Cost {
  /** CPU milliseconds per allocation, of the service process(es), of PostgreSQL (all its processes), of this load generator. */
  serviceMs: number;
  postgresMs: number;
  loadMs: number;
  /** Share of the machine's CPU time left idle (or waiting on the disk) during the run. */
  idle: number;
  /** Transactions PostgreSQL counted (commits and rollbacks, a statement outside BEGIN is one) per allocation. */
  transactions: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const started = Date.now();
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
  const { url: dbUrl, cleanup } = await freshDatabase();
  const client = new pg.Client({ connectionString: dbUrl });
  let service: Service | undefined;
  try {
    service = await startService(root, dbUrl);
    await client.connect();
    statsClient = client;
    log(`service up on port ${service.port} (${service.workers} worker${service.workers > 1 ? 's' : ''}); seeding`);
    await seed(client);

    // Warm-up (JIT, pools, plans), not measured.
    await load(service.port, 16, () => `bench-sku-${Math.floor(Math.random() * SKUS)}`, 'warmup', Math.min(DURATION, 5));

    // Many SKUs and the hot SKU in turn, run after run, so that their ratio compares the same machine state.
    const manyRuns: Record<string, Run[]> = { 16: [], 64: [] };
    const hotRuns: Record<string, Run[]> = { 16: [], 64: [] };
    for (let i = 0; i < REPEAT; i++) {
      for (const connections of [16, 64]) {
        if (SCENARIOS.has('many')) {
          manyRuns[connections].push(await load(service.port, connections, () => `bench-sku-${Math.floor(Math.random() * SKUS)}`, `many${connections}r${i}`));
          log(`many SKUs, ${connections} connections, run ${i + 1}: ${fmt(manyRuns[connections].at(-1)!)}`);
        }
        if (SCENARIOS.has('hot')) {
          hotRuns[connections].push(await load(service.port, connections, () => 'bench-hot', `hot${connections}r${i}`));
          log(`hot SKU, ${connections} connections, run ${i + 1}: ${fmt(hotRuns[connections].at(-1)!)}`);
        }
      }
    }
    const manySkus: Record<string, Run> = SCENARIOS.has('many') ? { 16: medianRun(manyRuns[16]), 64: medianRun(manyRuns[64]) } : {};
    const hot = SCENARIOS.has('hot') ? { 16: medianRun(hotRuns[16]), 64: medianRun(hotRuns[64]) } : undefined;
    const twoInstances = SCENARIOS.has('hot') ? await hotOnTwoInstances(root, dbUrl, service.port) : undefined;
    const sellOut = SCENARIOS.has('hot') ? await sellOutRun(service.port, client) : undefined;
    const overAllocated = await overAllocatedBatches(client);

    // Sizes in turn, run after run, so that the machine's drift over the minutes does not favour one size.
    const growth: Record<string, number> = {};
    const growthP50s: Record<string, number[]> = { 10: [], 1000: [], 10000: [] };
    for (let i = 0; i < (SCENARIOS.has('growth') ? REPEAT : 0); i++) {
      for (const prior of [10, 1000, 10000]) growthP50s[prior].push(await sequentialP50(service.port, `bench-growth-${prior}`, `growth${prior}r${i}`, 1000));
      log(`growth, run ${i + 1}: p50 ${[10, 1000, 10000].map((prior) => growthP50s[prior].at(-1)!.toFixed(3)).join(' / ')} ms at 10 / 1,000 / 10,000 prior allocations`);
    }
    if (SCENARIOS.has('growth')) for (const prior of [10, 1000, 10000]) growth[prior] = median(growthP50s[prior]);

    const history = SCENARIOS.has('history') ? await batchHistory(service.port) : undefined;

    const bigShrink = SCENARIOS.has('big-shrink') ? await shrinkBigBatch(service.port, client) : undefined;
    const ceiling = SCENARIOS.has('pgbench') ? await pgbenchCeiling(dbUrl) : null;
    const rssMb = service.peakRssMb();
    let streams: Streams | undefined;
    if (SCENARIOS.has('streams') && process.env.REDIS_URL) {
      await service.stop();
      streams = await streamsThroughput(root, dbUrl, process.env.REDIS_URL, client);
    } else if (SCENARIOS.has('streams')) {
      log('streams: skipped (set REDIS_URL to measure the Redis Streams)');
    }
    const results = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
      settings: { durationSeconds: DURATION, repeat: REPEAT, workers: service.workers, scenarios: [...SCENARIOS] },
      manySkus,
      hotSku: hot,
      hotSkuTwoInstances: twoInstances,
      sellOut,
      overAllocatedBatches: overAllocated,
      growthP50Ms: growth,
      growthRatio10000to10: growth[10000] / growth[10],
      history,
      bigShrink,
      pgbenchTps: ceiling,
      ratioToPgbench: ceiling && manySkus[16] ? manySkus[16].rps / ceiling : null,
      streams,
      peakRssMbPerProcess: rssMb,
      tookSeconds: Math.round((Date.now() - started) / 1000),
    };
    writeFileSync(path.join(root, 'bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    printTable(results);
  } finally {
    await client.end().catch(() => undefined);
    await service?.stop();
    await cleanup();
  }
}

function medianRun(runs: Run[]): Run {
  const pick = median(runs.map((r) => r.rps));
  return runs.find((r) => r.rps === pick)!;
}

function fmt(r: Run): string {
  const c = r.cost;
  const cost = c ? `; CPU ms per allocation: service ${c.serviceMs.toFixed(2)}, PostgreSQL ${c.postgresMs.toFixed(2)}, load ${c.loadMs.toFixed(2)} (${(100 * c.idle).toFixed(0)}% idle), ${c.transactions.toFixed(2)} transactions` : '';
  return `${r.rps.toFixed(0)} allocations/s, p50 ${r.p50} ms, p99 ${r.p99} ms, non-2xx ${r.non2xx}, 5xx ${r.fiveXX}${cost}`;
}

function log(line: string): void {
  console.error(`[bench] ${line}`);
}

async function freshDatabase(): Promise<{ url: string; cleanup: () => Promise<void> }> {
  if (process.env.DATABASE_URL) {
    const name = `allocation_bench_${Date.now()}`;
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(process.env.DATABASE_URL);
    url.pathname = `/${name}`;
    return {
      url: url.toString(),
      cleanup: async () => {
        const a = new pg.Client({ connectionString: process.env.DATABASE_URL });
        await a.connect();
        await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await a.end();
      },
    };
  }
  const folder = await mkdtemp(path.join(os.tmpdir(), 'allocation-bench-'));
  const server: RunningPostgres = await startEmbeddedPostgres({ dataDir: path.join(folder, 'pgdata') });
  return {
    url: server.url,
    cleanup: async () => {
      await server.stop();
      await removeDataDir(server.dataDir);
      await rm(folder, { recursive: true, force: true });
    },
  };
}

interface Service {
  port: number;
  workers: number;
  peakRssMb(): number[];
  stop(): Promise<void>;
}

async function startService(root: string, databaseUrl: string, redis: { REDIS_URL?: string; REDIS_KEY_PREFIX?: string } = {}): Promise<Service> {
  const port = await freePort();
  // As `npm run start:prod` runs it; with Redis only when a scenario asks for it.
  const { REDIS_URL: _ignored, ...env } = process.env;
  const child: ChildProcess = spawn(process.execPath, [...startFlags(root), path.join(root, 'dist', 'src', 'main.js')], {
    cwd: root,
    env: { ...env, ...redis, NODE_ENV: 'production', PORT: String(port), DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the service exited (${child.exitCode})`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      if (res.ok) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error('the service did not become healthy');
    await new Promise((r) => setTimeout(r, 200));
  }
  const pids = () => [child.pid!, ...childPids(child.pid!)];
  const workers = Math.max(1, childPids(child.pid!).length);
  for (const pid of pids()) servicePids.add(pid);
  return {
    port,
    workers,
    peakRssMb: () =>
      pids().map((pid) => {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
        return Math.round(kb / 1024);
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const pid of pids()) servicePids.delete(pid);
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Node's flags in `npm run start:prod` (the heap caps), so that the bench runs the service exactly as it. */
function startFlags(root: string): string[] {
  const { scripts } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  return scripts['start:prod'].split(/\s+/).filter((word) => word.startsWith('--'));
}

function childPids(pid: number): number[] {
  const out = spawnSync('pgrep', ['-P', String(pid)]).stdout?.toString() ?? '';
  return out.split('\n').filter(Boolean).map(Number);
}

async function seed(client: pg.Client): Promise<void> {
  // Straight into the tables (the service's own schema): 1,000 SKUs with a warehouse batch and a shipment.
  await client.query(
    `INSERT INTO products (sku, version)
     SELECT 'bench-sku-' || i, 2 FROM generate_series(0, $1 - 1) i
     UNION ALL SELECT 'bench-hot', 2
     UNION ALL SELECT 'bench-hot-' || s, 2 FROM unnest(ARRAY['a', 'b']) s
     UNION ALL SELECT 'bench-sellout', 2
     UNION ALL SELECT 'bench-growth-' || n, 2 FROM unnest(ARRAY[10, 1000, 10000]) n
     UNION ALL SELECT 'pgb-' || i, 2 FROM generate_series(0, $1 - 1) i`,
    [SKUS],
  );
  await client.query(
    `INSERT INTO batches (reference, sku, purchased_quantity, allocated_quantity, eta)
     SELECT sku || '-warehouse', sku, $1::int, 0, NULL FROM products WHERE sku <> 'bench-sellout'
     UNION ALL SELECT sku || '-shipment', sku, $1::int, 0, DATE '2030-01-01' FROM products WHERE sku <> 'bench-sellout'
     UNION ALL SELECT 'bench-sellout-warehouse', 'bench-sellout', $2::int, 0, NULL
     UNION ALL SELECT 'bench-sellout-shipment', 'bench-sellout', $2::int, 0, DATE '2030-01-01'`,
    [AMPLE, SELL_OUT_STOCK / 2],
  );
  for (const n of [10, 1000, 10000]) {
    const sku = `bench-growth-${n}`;
    await client.query(
      `INSERT INTO allocations (orderid, sku, qty, batch_reference)
       SELECT 'prior-' || i, $1::varchar, 1, $1::varchar || '-warehouse' FROM generate_series(1, $2::int) i`,
      [sku, n],
    );
    await client.query(`UPDATE batches SET allocated_quantity = $2::int WHERE reference = $1::varchar || '-warehouse'`, [sku, n]);
  }
  if (SCENARIOS.has('history')) {
    // Two SKUs: one with 2 batches; one with a long history, HISTORY_BATCHES batches of which all but
    // HISTORY_WITH_STOCK are used up (each holding an old order's line) and would be preferred if they had room.
    await client.query(`INSERT INTO products (sku, version) VALUES ('bench-history-2', 2), ('bench-history-${HISTORY_BATCHES}', 2)`);
    await client.query(
      `INSERT INTO batches (reference, sku, purchased_quantity, allocated_quantity, eta)
       VALUES ('bench-history-2-a', 'bench-history-2', $1::int, 0, DATE '2030-01-01'), ('bench-history-2-b', 'bench-history-2', $1::int, 0, DATE '2030-02-01')
       UNION ALL SELECT 'bench-history-old-' || i, 'bench-history-${HISTORY_BATCHES}', 1, 1, DATE '2020-01-01' + i FROM generate_series(1, $2::int) i
       UNION ALL SELECT 'bench-history-stock-' || i, 'bench-history-${HISTORY_BATCHES}', $1::int, 0, DATE '2030-01-01' + i FROM generate_series(1, $3::int) i`,
      [AMPLE, HISTORY_BATCHES - HISTORY_WITH_STOCK, HISTORY_WITH_STOCK],
    );
    await client.query(
      `INSERT INTO allocations (orderid, sku, qty, batch_reference)
       SELECT 'history-old-' || i, 'bench-history-${HISTORY_BATCHES}', 1, 'bench-history-old-' || i FROM generate_series(1, $1::int) i`,
      [HISTORY_BATCHES - HISTORY_WITH_STOCK],
    );
  }
  if (SCENARIOS.has('big-shrink')) {
    // One batch holding 50,000 lines, and another with room for all of them.
    await client.query(`INSERT INTO products (sku, version) VALUES ('bench-big', 2)`);
    await client.query(
      `INSERT INTO batches (reference, sku, purchased_quantity, allocated_quantity, eta)
       VALUES ('bench-big-full', 'bench-big', $1, $1, NULL), ('bench-big-room', 'bench-big', $1, 0, DATE '2030-01-01')`,
      [BIG_LINES],
    );
    await client.query(
      `INSERT INTO allocations (orderid, sku, qty, batch_reference)
       SELECT 'big-' || i, 'bench-big', 1, 'bench-big-full' FROM generate_series(1, $1::int) i`,
      [BIG_LINES],
    );
  }
  await client.query('ANALYZE'); // fresh planner statistics, or the ceiling query seq-scans
}

interface BigShrink {
  lines: number;
  answer: number;
  secondsToAnswer: number;
  secondsToReallocated: number;
  reallocated: number;
  load: Run;
}

/**
 * While a many-SKU load runs, shrinks the 50,000-line batch to 0: how long until the 200, how long until
 * every line is allocated again (to the batch with room), and what the other load saw meanwhile.
 */
async function shrinkBigBatch(port: number, client: pg.Client): Promise<BigShrink> {
  const reallocated = async () =>
    (await client.query(`SELECT count(*)::int AS n FROM allocations WHERE sku = 'bench-big' AND batch_reference = 'bench-big-room'`)).rows[0].n as number;
  let stop: () => void = () => undefined;
  const background = new Promise<Run>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${port}`,
        connections: 16,
        duration: 600,
        requests: [
          {
            method: 'POST',
            path: '/allocate',
            headers: { 'content-type': 'application/json' },
            setupRequest: (req) => ({ ...req, body: JSON.stringify({ orderid: `shrink-${orderCounter++}`, sku: `bench-sku-${Math.floor(Math.random() * SKUS)}`, qty: 1 }) }),
          },
        ],
      },
      (error, result) => {
        if (error) return reject(error);
        resolve({ rps: result['2xx'] / (result.duration || 1), p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx, fiveXX: result['5xx'] });
      },
    );
    stop = () => instance.stop();
  });
  await new Promise((r) => setTimeout(r, 2000)); // the load first
  const started = Date.now();
  const res = await fetch(`http://127.0.0.1:${port}/change_batch_quantity`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ref: 'bench-big-full', qty: 0 }),
  });
  const secondsToAnswer = (Date.now() - started) / 1000;
  log(`big shrink: ${res.status} after ${secondsToAnswer.toFixed(2)} s; reallocating ${BIG_LINES} lines`);
  let done = 0;
  const deadline = Date.now() + 300_000;
  while ((done = await reallocated()) < BIG_LINES && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  const secondsToReallocated = (Date.now() - started) / 1000;
  stop();
  const load = await background;
  log(`big shrink: ${done} of ${BIG_LINES} lines reallocated after ${secondsToReallocated.toFixed(1)} s; other load meanwhile: ${fmt(load)}`);
  return { lines: BIG_LINES, answer: res.status, secondsToAnswer, secondsToReallocated, reallocated: done, load };
}

interface TwoInstances {
  /** The hot SKU from one instance, 16 connections. */
  one: Run;
  /** The hot SKU from two instances on one database, 8 connections each: rates added. */
  two: Run;
  /**
   * Two instances each allocating a hot SKU of its own (8 connections each): they never contend, so this is
   * what a second process gives the hot SKU at most, where every process shares the same cores.
   */
  apart: Run;
  /** The same for many SKUs, where instances seldom contend. */
  manyOne: Run;
  manyTwo: Run;
  /** The hot SKU from one instance at 64 connections, and from two at 32 each: a load that one instance cannot absorb. */
  one64: Run;
  two64: Run;
}

/**
 * The hot SKU served by two instances on one database (8 connections each) against one instance alone
 * (16), in turn; their commands contend on the product row across instances, where no group can help. Two
 * references: the two instances on a hot SKU each (they never contend: what a second process can give at
 * all where every process shares the same cores), and many SKUs (they seldom contend, a unit's few SKUs
 * among 1,000, but the groups are half as big). Then the same pair at 64 connections (32 each) against one
 * instance at 64: at 16 one instance leaves a third of the CPU idle, waiting on round trips, so a second
 * one can only share its load; at 64 it has more load than it can take.
 */
async function hotOnTwoInstances(root: string, dbUrl: string, port: number): Promise<TwoInstances> {
  const second = await startService(root, dbUrl);
  const many = () => `bench-sku-${Math.floor(Math.random() * SKUS)}`;
  const both = async (sku: () => string, tag: string, { secondSku = sku, connections = 16 } = {}): Promise<Run> => {
    return withCost(async () => {
      const [a, b] = await Promise.all([loadOnly(port, connections / 2, sku, `${tag}a`), loadOnly(second.port, connections / 2, secondSku, `${tag}b`)]);
      return { rps: a.rps + b.rps, ok: (a.ok ?? 0) + (b.ok ?? 0), p50: Math.max(a.p50, b.p50), p99: Math.max(a.p99, b.p99), non2xx: a.non2xx + b.non2xx, fiveXX: a.fiveXX + b.fiveXX };
    });
  };
  try {
    await load(second.port, 8, many, 'warmup2', Math.min(DURATION, 5)); // as the first was
    const runs: Record<keyof TwoInstances, Run[]> = { one: [], two: [], apart: [], manyOne: [], manyTwo: [], one64: [], two64: [] };
    for (let i = 0; i < REPEAT; i++) {
      runs.one.push(await load(port, 16, () => 'bench-hot', `hot1i${i}`));
      runs.two.push(await both(() => 'bench-hot', `hot2i${i}`));
      runs.apart.push(await both(() => 'bench-hot-a', `hotApart${i}`, { secondSku: () => 'bench-hot-b' }));
      log(`hot SKU, run ${i + 1}: one instance ${fmt(runs.one.at(-1)!)}; two instances ${fmt(runs.two.at(-1)!)}; two instances, a hot SKU each ${fmt(runs.apart.at(-1)!)}`);
      runs.manyOne.push(await load(port, 16, many, `many1i${i}`));
      runs.manyTwo.push(await both(many, `many2i${i}`));
      log(`many SKUs, run ${i + 1}: one instance ${fmt(runs.manyOne.at(-1)!)}; two instances ${fmt(runs.manyTwo.at(-1)!)}`);
      runs.one64.push(await load(port, 64, () => 'bench-hot', `hot1i64${i}`));
      runs.two64.push(await both(() => 'bench-hot', `hot2i64${i}`, { connections: 64 }));
      log(`hot SKU at 64 connections, run ${i + 1}: one instance ${fmt(runs.one64.at(-1)!)}; two instances ${fmt(runs.two64.at(-1)!)}`);
    }
    const medians = Object.entries(runs).map(([key, list]) => [key, medianRun(list)]);
    return Object.fromEntries(medians) as TwoInstances;
  } finally {
    await second.stop();
  }
}

interface SellOut {
  stock: number;
  answered202: number;
  answered409: number;
  other: number;
  allocatedLines: number;
  allocatedQuantity: number;
  allocatedEvents: number;
  outOfStockEvents: number;
  /** Out-of-stock e-mails recorded as sent (one per OutOfStock event, however often delivered). */
  emails: number;
}

/**
 * The hot SKU with SELL_OUT_STOCK units of stock, 16 connections until well past selling out: exactly the
 * stock is allocated, every other line is answered 409, and there is one event (and one e-mail) per outcome.
 */
async function sellOutRun(port: number, client: pg.Client): Promise<SellOut> {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: 16,
    amount: SELL_OUT_STOCK * 2,
    requests: [
      {
        method: 'POST',
        path: '/allocate',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: JSON.stringify({ orderid: `sellout-${orderCounter++}`, sku: 'bench-sellout', qty: 1 }) }),
      },
    ],
  });
  const count = async (sql: string) => (await client.query(sql)).rows[0].n as number;
  const outOfStockEvents = () => count(`SELECT count(*)::int AS n FROM outbox WHERE sku = 'bench-sellout' AND name = 'OutOfStock'`);
  const emails = () =>
    count(`SELECT count(*)::int AS n FROM sent_notifications s JOIN outbox o ON o.event_id = s.event_id WHERE o.sku = 'bench-sellout' AND o.name = 'OutOfStock'`);
  const deadline = Date.now() + 60_000;
  while ((await emails()) < (await outOfStockEvents()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  const sellOut: SellOut = {
    stock: SELL_OUT_STOCK,
    answered202: result['2xx'],
    answered409: result.statusCodeStats?.['409']?.count ?? 0,
    other: result.non2xx - (result.statusCodeStats?.['409']?.count ?? 0),
    allocatedLines: await count(`SELECT count(*)::int AS n FROM allocations WHERE sku = 'bench-sellout'`),
    allocatedQuantity: await count(`SELECT sum(allocated_quantity)::int AS n FROM batches WHERE sku = 'bench-sellout'`),
    allocatedEvents: await count(`SELECT count(*)::int AS n FROM outbox WHERE sku = 'bench-sellout' AND name = 'Allocated'`),
    outOfStockEvents: await outOfStockEvents(),
    emails: await emails(),
  };
  log(`sell-out: ${JSON.stringify(sellOut)}`);
  return sellOut;
}

let orderCounter = 0;

interface Streams {
  entriesIn: number;
  secondsToAcknowledged: number;
  secondsToApplied: number;
  traffic: Run;
  entriesOut: number;
  secondsToPublished: number;
}

/**
 * Redis Streams, on a service started with Redis (and a key prefix of its own). In: 10,000 entries on the
 * inbound stream (10 quantities for each of 1,000 batches), and how long until the group has acknowledged
 * them all, then until every batch has its last quantity. Out: a many-SKU load, and how long until the
 * outbound stream holds one entry per allocation.
 */
async function streamsThroughput(root: string, dbUrl: string, redisUrl: string, client: pg.Client): Promise<Streams> {
  const prefix = `bench-${Date.now()}:`;
  const service = await startService(root, dbUrl, { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix });
  const redis = new Redis(redisUrl);
  try {
    const rounds = 10;
    const inbound = `${prefix}change_batch_quantity`;
    const started = Date.now();
    for (let round = 1; round <= rounds; round++) {
      const pipeline = redis.pipeline();
      for (let i = 0; i < SKUS; i++) pipeline.xadd(inbound, '*', 'data', JSON.stringify({ batchref: `bench-sku-${i}-warehouse`, qty: AMPLE + round }));
      await pipeline.exec();
    }
    const entriesIn = rounds * SKUS;
    const acknowledged = async () => {
      const groups = (await redis.call('XINFO', 'GROUPS', inbound)) as unknown[][];
      const group = groups.map((g) => Object.fromEntries(Array.from({ length: g.length / 2 }, (_, i) => [g[2 * i], g[2 * i + 1]]))).find((g) => g.name === 'allocation-service');
      return group !== undefined && group.pending === 0 && group.lag === 0;
    };
    const applied = async () =>
      (await client.query(`SELECT count(*)::int AS n FROM batches WHERE reference LIKE 'bench-sku-%-warehouse' AND purchased_quantity = $1`, [AMPLE + rounds])).rows[0].n === SKUS;
    const deadline = Date.now() + 300_000;
    while (!(await acknowledged()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const secondsToAcknowledged = (Date.now() - started) / 1000;
    while (!(await applied()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const secondsToApplied = (Date.now() - started) / 1000;
    log(`streams in: ${entriesIn} entries acknowledged after ${secondsToAcknowledged.toFixed(2)} s, applied after ${secondsToApplied.toFixed(2)} s`);

    const outbound = `${prefix}line_allocated`;
    const loadStarted = Date.now();
    const traffic = await load(service.port, 16, () => `bench-sku-${Math.floor(Math.random() * SKUS)}`, 'streams', Math.min(DURATION, 10));
    const allocations = traffic.ok ?? 0;
    let entriesOut = 0;
    while ((entriesOut = await redis.xlen(outbound)) < allocations && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const secondsToPublished = (Date.now() - loadStarted) / 1000;
    log(`streams out: ${entriesOut} entries for ${allocations} allocations after ${secondsToPublished.toFixed(2)} s (load: ${fmt(traffic)})`);
    return { entriesIn, secondsToAcknowledged, secondsToApplied, traffic, entriesOut, secondsToPublished };
  } finally {
    await redis.del(`${prefix}change_batch_quantity`, `${prefix}line_allocated`).catch(() => undefined);
    redis.disconnect();
    await service.stop();
  }
}

/** The processes of the services under test (and their workers): their CPU time is the service's. */
const servicePids = new Set<number>();
/** The bench's own connection, for PostgreSQL's transaction counters (set once the database is up). */
let statsClient: pg.Client | undefined;

type ProcessKind = 'service' | 'postgres' | 'load';

interface CpuSample {
  /** CPU ticks of each process of interest, by pid. */
  processes: Map<number, { kind: ProcessKind; ticks: number }>;
  idle: number;
  total: number;
  transactions: number;
}

/** CPU ticks by process, from /proc (undefined elsewhere), and PostgreSQL's transaction count. */
async function sample(): Promise<CpuSample | undefined> {
  if (!existsSync('/proc/stat') || !statsClient) return undefined;
  const processes = new Map<number, { kind: ProcessKind; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pid = Number(entry);
      const kind = name === 'postgres' ? 'postgres' : pid === process.pid ? 'load' : servicePids.has(pid) ? 'service' : undefined;
      if (kind) processes.set(pid, { kind, ticks: Number(fields[11]) + Number(fields[12]) }); // utime + stime
    } catch {
      /* the process ended meanwhile */
    }
  }
  const machine = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [{ n }] = (await statsClient.query('SELECT (xact_commit + xact_rollback)::float8 AS n FROM pg_stat_database WHERE datname = current_database()')).rows;
  return { processes, idle: machine[3] + machine[4], total: machine.reduce((a, b) => a + b, 0), transactions: n as number };
}

/** Runs a load and adds what its allocations cost (CPU per process kind, transactions) to its result. */
async function withCost(run: () => Promise<Run>): Promise<Run> {
  const before = await sample();
  const result = await run();
  const after = await sample();
  if (!before || !after || !result.ok) return result;
  // Per process, so that one that ended meanwhile (an autovacuum worker) takes nothing off the others;
  // one that started counts whole. Ticks are 1/100 s (USER_HZ) on Linux.
  const ms = { service: 0, postgres: 0, load: 0 };
  for (const [pid, { kind, ticks }] of after.processes) ms[kind] += (ticks - (before.processes.get(pid)?.ticks ?? 0)) * 10;
  // PostgreSQL counts a transaction when its backend reports (up to a second late): close enough over a run.
  const cost = {
    serviceMs: ms.service / result.ok,
    postgresMs: ms.postgres / result.ok,
    loadMs: ms.load / result.ok,
    idle: (after.idle - before.idle) / (after.total - before.total),
    transactions: (after.transactions - before.transactions) / result.ok,
  };
  return { ...result, cost };
}

function load(port: number, connections: number, sku: () => string, tag: string, duration = DURATION): Promise<Run> {
  return withCost(() => loadOnly(port, connections, sku, tag, duration));
}

async function loadOnly(port: number, connections: number, sku: () => string, tag: string, duration = DURATION): Promise<Run> {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    duration,
    requests: [
      {
        method: 'POST',
        path: '/allocate',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: JSON.stringify({ orderid: `${tag}-${orderCounter++}`, sku: sku(), qty: 1 }) }),
      },
    ],
  });
  return {
    rps: result['2xx'] / (result.duration || duration),
    ok: result['2xx'],
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    fiveXX: result['5xx'],
  };
}

/** p50 latency (ms, microsecond resolution) of one client allocating `count` lines one after another. */
function sequentialP50(port: number, sku: string, tag: string, count: number): Promise<number> {
  return sequentialRequestsP50(port, '/allocate', (i) => ({ orderid: `${tag}-${i}`, sku, qty: 1 }), 202, count);
}

/** p50 latency (ms) of one client sending `count` requests to `route` one after another, each answered `status`. */
async function sequentialRequestsP50(port: number, route: string, body: ((i: number) => unknown) | undefined, status: number, count: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const send = (payload: string) =>
    new Promise<number>((resolve, reject) => {
      const started = process.hrtime.bigint();
      const req = http.request(
        { host: '127.0.0.1', port, path: route, method: body === undefined ? 'GET' : 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === status ? resolve(Number(process.hrtime.bigint() - started) / 1e6) : reject(new Error(`status ${res.statusCode}`))));
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) latencies.push(await send(body === undefined ? '' : JSON.stringify(body(i))));
  agent.destroy();
  return median(latencies);
}

interface BatchHistory {
  allocateP50Ms: { twoBatches: number; history: number; ratio: number };
  changeQuantityP50Ms: { twoBatches: number; history: number; ratio: number };
  /** GET /products/{sku}, which answers every batch. */
  productViewP50Ms: { twoBatches: number; history: number; ratio: number };
}

/**
 * One client, one request at a time (p50 of each run, median of the runs): allocations and quantity changes
 * of a batch with stock, on a SKU with 2 batches and on a SKU with HISTORY_BATCHES batches, alternating
 * runs so that both see the same machine.
 */
async function batchHistory(port: number): Promise<BatchHistory> {
  const skus = { twoBatches: 'bench-history-2', history: `bench-history-${HISTORY_BATCHES}` };
  const batchWithStock = { twoBatches: 'bench-history-2-a', history: 'bench-history-stock-1' };
  const allocate: Record<keyof typeof skus, number[]> = { twoBatches: [], history: [] };
  const change: Record<keyof typeof skus, number[]> = { twoBatches: [], history: [] };
  const view: Record<keyof typeof skus, number[]> = { twoBatches: [], history: [] };
  for (let run = 0; run < REPEAT; run++) {
    for (const which of ['twoBatches', 'history'] as const) {
      allocate[which].push(await sequentialRequestsP50(port, '/allocate', (i) => ({ orderid: `hist-${which}-${run}-${i}`, sku: skus[which], qty: 1 }), 202, 500));
      // Two quantities in turn, both far above what is allocated: nothing is deallocated.
      change[which].push(await sequentialRequestsP50(port, '/change_batch_quantity', (i) => ({ ref: batchWithStock[which], qty: AMPLE - (i % 2) }), 200, 500));
      view[which].push(await sequentialRequestsP50(port, `/products/${skus[which]}`, undefined, 200, 20));
    }
    log(`batch history, run ${run + 1}: allocate p50 ${allocate.twoBatches.at(-1)!.toFixed(2)} ms (2 batches) / ${allocate.history.at(-1)!.toFixed(2)} ms (${HISTORY_BATCHES.toLocaleString('en')}); change_batch_quantity ${change.twoBatches.at(-1)!.toFixed(2)} / ${change.history.at(-1)!.toFixed(2)} ms`);
  }
  const figures = (xs: Record<keyof typeof skus, number[]>) => {
    const two = median(xs.twoBatches);
    const many = median(xs.history);
    return { twoBatches: two, history: many, ratio: many / two };
  };
  return { allocateP50Ms: figures(allocate), changeQuantityP50Ms: figures(change), productViewP50Ms: figures(view) };
}

async function overAllocatedBatches(client: pg.Client): Promise<number> {
  const { rows } = await client.query(
    `SELECT count(*)::int AS n FROM batches b
      WHERE b.allocated_quantity > b.purchased_quantity
         OR b.allocated_quantity <> (SELECT COALESCE(sum(qty), 0) FROM allocations a WHERE a.batch_reference = b.reference)`,
  );
  return rows[0].n;
}

/** The textbook allocation, as pgbench runs it at 16 clients against the same server. */
async function pgbenchCeiling(url: string): Promise<number | null> {
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort().reverse() : [];
  const pgbench = ['/usr/bin/pgbench', ...versions.map((v) => `/usr/lib/postgresql/${v}/bin/pgbench`)].find((p) => existsSync(p));
  if (!pgbench) {
    log('no pgbench on this machine: ceiling skipped (apt-get install postgresql-client-common postgresql)');
    return null;
  }
  const script = path.join(os.tmpdir(), `allocation-bench-${process.pid}.sql`);
  await writeFile(
    script,
    `\\set n random(0, ${SKUS - 1})
\\set o random(1, 1000000000000)
BEGIN;
SELECT version FROM products WHERE sku = 'pgb-' || :n FOR UPDATE;
SELECT b.reference, b.purchased_quantity, b.eta, COALESCE(SUM(a.qty), 0) AS allocated
  FROM batches b LEFT JOIN allocations a ON a.batch_reference = b.reference
 WHERE b.sku = 'pgb-' || :n GROUP BY b.reference, b.purchased_quantity, b.eta;
INSERT INTO allocations (orderid, sku, qty, batch_reference) VALUES ('pgb-' || :o, 'pgb-' || :n, 1, 'pgb-' || :n || '-warehouse');
UPDATE products SET version = version + 1 WHERE sku = 'pgb-' || :n;
END;
`,
  );
  // The service's runs added many order lines since seeding: fresh statistics, or the sum seq-scans them.
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('ANALYZE');
  await client.end();
  const runs: number[] = [];
  for (let i = 0; i < REPEAT; i++) {
    const r = spawnSync(pgbench, ['-n', '-c', '16', '-j', '2', '-T', String(DURATION), '-f', script, url], { encoding: 'utf8' });
    const tps = Number(/tps = ([\d.]+)/.exec(r.stdout)?.[1]);
    if (!tps) {
      log(`pgbench failed: ${r.stderr || r.stdout}`);
      return null;
    }
    runs.push(tps);
    log(`pgbench textbook allocation, 16 clients, run ${i + 1}: ${tps.toFixed(0)} tps`);
  }
  await rm(script, { force: true });
  return median(runs);
}

function printTable(r: {
  manySkus: Record<string, Run>;
  hotSku?: Record<string, Run>;
  hotSkuTwoInstances?: TwoInstances;
  sellOut?: SellOut;
  overAllocatedBatches: number;
  growthP50Ms: Record<string, number>;
  growthRatio10000to10: number;
  history?: BatchHistory;
  bigShrink?: BigShrink;
  streams?: Streams;
  pgbenchTps: number | null;
  ratioToPgbench: number | null;
  peakRssMbPerProcess: number[];
  settings: { durationSeconds: number; repeat: number; workers: number };
  machine: { node: string };
}): void {
  // What an allocation cost: CPU ms of the service / PostgreSQL / the load generator, and transactions.
  const cost = (c: Cost | undefined) =>
    c ? [`${c.serviceMs.toFixed(2)} / ${c.postgresMs.toFixed(2)} / ${c.loadMs.toFixed(2)}`, `${(100 * c.idle).toFixed(0)}%`, c.transactions.toFixed(2)] : ['', '', ''];
  const scenario = (name: string, run: Run) => [name, run.rps.toFixed(0), run.p50, run.p99, run.non2xx, run.fiveXX, ...cost(run.cost)];
  const rows = [
    ['scenario', 'allocations/s', 'p50 ms', 'p99 ms', 'non-2xx', '5xx', 'CPU ms/allocation: service / PG / load', 'CPU idle', 'transactions/allocation'],
    ...(r.manySkus[16] ? [scenario('many SKUs, 16 conn', r.manySkus[16]), scenario('many SKUs, 64 conn', r.manySkus[64])] : []),
    ...(r.hotSku ? [scenario('hot SKU, 16 conn', r.hotSku[16]), scenario('hot SKU, 64 conn', r.hotSku[64])] : []),
    ...(r.hotSkuTwoInstances
      ? [
          scenario('hot SKU, one instance, 16 conn', r.hotSkuTwoInstances.one),
          scenario('hot SKU, two instances, 8 conn each', r.hotSkuTwoInstances.two),
          scenario('two instances, a hot SKU each, 8 conn each', r.hotSkuTwoInstances.apart),
          scenario('many SKUs, one instance, 16 conn', r.hotSkuTwoInstances.manyOne),
          scenario('many SKUs, two instances, 8 conn each', r.hotSkuTwoInstances.manyTwo),
          scenario('hot SKU, one instance, 64 conn', r.hotSkuTwoInstances.one64),
          scenario('hot SKU, two instances, 32 conn each', r.hotSkuTwoInstances.two64),
        ]
      : []),
    ...(r.bigShrink ? [scenario('many SKUs, 16 conn, during the big shrink', r.bigShrink.load)] : []),
    ...(r.streams ? [scenario('many SKUs, 16 conn, with Redis channels and streams', r.streams.traffic)] : []),
  ].map((row) => row.map(String));
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const line = (row: string[]) => `| ${row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  // The runtime matters: the service costs about half the CPU per request on Node 24 that it does on 20.
  console.log(`\nMedians of ${r.settings.repeat} runs of ${r.settings.durationSeconds} s; ${r.settings.workers} service worker(s) on Node.js ${r.machine.node}.\n`);
  console.log(line(rows[0]));
  console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const row of rows.slice(1)) console.log(line(row));
  console.log('');
  const ratio = (a: number, b: number) => `x${(a / b).toFixed(2)}`;
  const targets: [string, string, string][] = [];
  if (r.hotSku && r.manySkus[16]) {
    targets.push(['hot SKU / many SKUs, 16 conn', ratio(r.hotSku[16].rps, r.manySkus[16].rps), 'at least x1.00']);
    targets.push(['hot SKU / many SKUs, 64 conn', ratio(r.hotSku[64].rps, r.manySkus[64].rps), 'at least x1.00']);
  }
  if (r.hotSku) {
    targets.push(['hot SKU, 16 conn: p99', `${r.hotSku[16].p99} ms`, 'under 50 ms']);
    targets.push(['hot SKU, 16 and 64 conn: 5xx', `${r.hotSku[16].fiveXX + r.hotSku[64].fiveXX}`, '0']);
  }
  if (r.hotSkuTwoInstances) {
    const t = r.hotSkuTwoInstances;
    targets.push(['hot SKU: two instances / one, 16 conn in all', ratio(t.two.rps, t.one.rps), `at least x1.00 (where instances never contend, a hot SKU each: ${ratio(t.apart.rps, t.one.rps)}; many SKUs: ${ratio(t.manyTwo.rps, t.manyOne.rps)})`]);
    targets.push(['hot SKU: two instances / one, 64 conn in all', ratio(t.two64.rps, t.one64.rps), 'at least x1.00']);
  }
  if (r.ratioToPgbench !== null) targets.push(['many SKUs, 16 conn / pgbench textbook ceiling', `x${r.ratioToPgbench.toFixed(2)}`, 'at least x1.00']);
  if (r.sellOut) {
    const so = r.sellOut;
    targets.push([`sell-out: ${so.stock.toLocaleString('en')} in stock, ${(so.answered202 + so.answered409 + so.other).toLocaleString('en')} requests: allocated`, `${so.allocatedQuantity} (${so.allocatedLines} lines, ${so.answered202} x 202)`, `exactly ${so.stock}`]);
    targets.push(['sell-out: 409 / OutOfStock events / e-mails', `${so.answered409} / ${so.outOfStockEvents} / ${so.emails}`, 'all equal']);
    targets.push(['sell-out: Allocated events / other answers', `${so.allocatedEvents} / ${so.other}`, `${so.answered202} / 0`]);
  }
  targets.push(['over-allocated batches after the runs', String(r.overAllocatedBatches), '0']);
  console.log(`| target | measured | goal |\n|---|---:|---|`);
  for (const [what, measured, goal] of targets) console.log(`| ${what} | ${measured} | ${goal} |`);
  console.log('');
  console.log(`| figure | value |\n|---|---|`);
  if (r.growthP50Ms[10] !== undefined) {
    const g = (n: number) => r.growthP50Ms[n].toFixed(2);
    console.log(`| growth: p50 at 10 / 1,000 / 10,000 prior allocations (1 client) | ${g(10)} / ${g(1000)} / ${g(10000)} ms (x${r.growthRatio10000to10.toFixed(2)}) |`);
  }
  if (r.history) {
    const h = r.history;
    const row = (what: string, f: BatchHistory['allocateP50Ms']) =>
      console.log(`| batch history: ${what} p50, 2 batches / ${HISTORY_BATCHES.toLocaleString('en')} batches (${HISTORY_WITH_STOCK} with stock), 1 client | ${f.twoBatches.toFixed(2)} / ${f.history.toFixed(2)} ms (x${f.ratio.toFixed(2)}; target x1.3 at most) |`);
    row('allocate', h.allocateP50Ms);
    row('change_batch_quantity', h.changeQuantityP50Ms);
    console.log(`| batch history: GET /products/{sku} p50 (every batch), 2 / ${HISTORY_BATCHES.toLocaleString('en')} batches | ${h.productViewP50Ms.twoBatches.toFixed(2)} / ${h.productViewP50Ms.history.toFixed(2)} ms |`);
  }
  if (r.bigShrink) {
    const b = r.bigShrink;
    console.log(`| big shrink: batch of ${b.lines.toLocaleString('en')} lines to 0 under load, answer | ${b.answer} after ${b.secondsToAnswer.toFixed(2)} s |`);
    console.log(`| big shrink: every line reallocated | ${b.reallocated.toLocaleString('en')} lines after ${b.secondsToReallocated.toFixed(1)} s |`);
  }
  if (r.streams) {
    const st = r.streams;
    const rate = (n: number, sec: number) => `${(n / sec).toFixed(0)}/s`;
    console.log(`| streams in: ${st.entriesIn.toLocaleString('en')} entries acknowledged (stored in the inbox) | after ${st.secondsToAcknowledged.toFixed(2)} s (${rate(st.entriesIn, st.secondsToAcknowledged)}) |`);
    console.log(`| streams in: ... and applied (every batch at its last quantity) | after ${st.secondsToApplied.toFixed(2)} s (${rate(st.entriesIn, st.secondsToApplied)}) |`);
    console.log(`| streams out: ${st.entriesOut.toLocaleString('en')} line_allocated entries, from the load's start | after ${st.secondsToPublished.toFixed(2)} s (${rate(st.entriesOut, st.secondsToPublished)}) |`);
  }
  if (r.pgbenchTps !== null) {
    console.log(`| pgbench textbook allocation, 16 clients | ${r.pgbenchTps.toFixed(0)} tps |`);
    console.log(`| service / pgbench (many SKUs, 16 conn) | ${r.ratioToPgbench ? `x${r.ratioToPgbench.toFixed(2)}` : 'n/a'} |`);
  }
  console.log(`| peak RSS per process | ${r.peakRssMbPerProcess.map((m) => `${m} MB`).join(', ')} |`);
  // Ratios only between figures of this run; a figure from elsewhere is labelled, never divided by.
  console.log(`\nRecorded elsewhere, not measured in this run: the book's reference Python service did 260/s (another machine, another day).`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
