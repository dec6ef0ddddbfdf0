import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../src/database/embedded-postgres.js';
import { eventually } from '../support/app.js';
import { unique } from '../support/config.js';
import { describeWithRedis, redisUrl } from '../support/redis.js';
import { newTraceparent, type SpanRecord, TracedService } from '../support/traced.js';

type Agent = Awaited<ReturnType<TracedService['startApp']>>;

const SERVER = 1; // SpanKind
const CONSUMER = 4;
const ERROR = 2; // SpanStatusCode

/** The spans of one trace, and a way to find one by name (it must be there, once). */
function traceOf(spans: SpanRecord[], traceId: string) {
  const mine = spans.filter((s) => s.traceId === traceId);
  const one = (name: string | RegExp) => {
    const found = mine.filter((s) => (typeof name === 'string' ? s.name === name : name.test(s.name)));
    if (found.length !== 1) throw new Error(`expected one span ${name} in trace ${traceId}, found ${found.length} among: ${mine.map((s) => s.name).join(', ')}`);
    return found[0];
  };
  const childrenOf = (span: SpanRecord) => mine.filter((s) => s.parentSpanId === span.spanId);
  return { spans: mine, one, childrenOf };
}

/** A batch of 1, then an allocation of 5 under a caller's new trace: a 409, and an OutOfStock event. */
async function outOfStockUnderTrace(http: Agent, prefix: string): Promise<{ sku: string; caller: ReturnType<typeof newTraceparent> }> {
  const sku = unique(prefix);
  await http.post('/add_batch').send({ ref: unique('tb'), sku, qty: 1 }).expect(201);
  const caller = newTraceparent();
  await http.post('/allocate').set('traceparent', caller.traceparent).send({ orderid: unique('o'), sku, qty: 5 }).expect(409);
  return { sku, caller };
}

describe('tracing (OpenTelemetry, in-memory exporter, in a process started like main.ts)', () => {
  let service: TracedService;

  // No SMTP_URL: the buying team's e-mail is a log line, which shows the delivery's trace too.
  beforeAll(async () => {
    service = await TracedService.start();
  }, 60_000);
  afterAll(async () => {
    await service?.stop();
  });

  it('traces POST /allocate that runs out of stock: HTTP, command and SQL, then the OutOfStock delivery after the commit', async () => {
    const http = await service.startApp('a');
    const { sku, caller } = await outOfStockUnderTrace(http, 'TRACE');

    const trace = await eventually(async () => {
      const t = traceOf(await service.spans(), caller.traceId);
      // Each span is handed over when it ends, in no set order between the answer and the delivery.
      for (const name of ['POST /allocate', 'command Allocate', 'deliver OutOfStock to OutOfStockNotifier']) t.one(name);
      return t;
    });
    // The caller's traceparent is honoured: the HTTP span continues its trace, under its span.
    const httpSpan = trace.one('POST /allocate');
    expect(httpSpan).toMatchObject({ kind: SERVER, parentSpanId: caller.spanId, attributes: expect.objectContaining({ 'http.route': '/allocate' }) });
    const command = trace.one('command Allocate');
    expect(command.parentSpanId).toBe(httpSpan.spanId);
    expect(command.attributes).toMatchObject({ 'allocation.sku': sku, 'allocation.outcome': 'out_of_stock' });
    // Its SQL, under the command.
    const sql = trace.childrenOf(command).filter((s) => s.name.startsWith('pg.query'));
    expect(sql.length).toBeGreaterThan(0);
    // The delivery: in the same trace, under the command, started once the statement that committed the
    // event (with the product's change) had ended.
    const delivery = trace.one('deliver OutOfStock to OutOfStockNotifier');
    expect(delivery).toMatchObject({ kind: CONSUMER, parentSpanId: command.spanId, attributes: expect.objectContaining({ 'messaging.destination.name': 'OutOfStock', 'allocation.attempt': 1 }) });
    const commit = sql.filter((s) => /INSERT INTO outbox/.test(String(s.attributes['db.query.text'])));
    expect(commit).toHaveLength(1);
    expect(delivery.startMs).toBeGreaterThanOrEqual(commit[0].endMs);

    // Every log line of the request carries the trace: its request line, and the delivery's own line.
    await eventually(async () => {
      const lines = service.logs.filter((l) => l.trace_id === caller.traceId);
      expect(lines).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ route: '/allocate', status: 409, span_id: httpSpan.spanId }),
          expect.objectContaining({ context: 'Notifications', span_id: delivery.spanId }),
        ]),
      );
    });
    await service.closeApp('a');
  }, 90_000);

  it('keeps a failing delivery, its log lines and its retries in the trace, and the relay\'s own work out of it', async () => {
    // SMTP that hangs up at once: every e-mail fails; the second attempt is the last.
    const smtpDown = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => smtpDown.listen(0, '127.0.0.1', resolve));
    try {
      const http = await service.startApp('failing', {
        SMTP_URL: `smtp://127.0.0.1:${(smtpDown.address() as AddressInfo).port}`,
        EVENT_HANDLER_MAX_ATTEMPTS: '2',
        EVENT_HANDLER_BACKOFF_MS: '50',
        OUTBOX_POLL_MS: '50',
      });
      const { caller } = await outOfStockUnderTrace(http, 'TRACE-FAIL');

      const trace = await eventually(async () => {
        const t = traceOf(await service.spans(), caller.traceId);
        const deliveries = t.spans.filter((s) => s.name === 'deliver OutOfStock to OutOfStockNotifier');
        expect(deliveries.map((d) => [d.attributes['allocation.attempt'], d.status]).sort()).toEqual([[1, ERROR], [2, ERROR]]);
        return t;
      });
      // The failures are logged in the trace, under their delivery's span.
      const deliverySpans = new Set(trace.spans.filter((s) => s.name.startsWith('deliver')).map((s) => s.spanId));
      await eventually(async () => {
        const failures = service.logs.filter((l) => l.trace_id === caller.traceId && /OutOfStockNotifier (failed|gave up)/.test(String(l.msg)));
        expect(failures.length).toBeGreaterThanOrEqual(3); // two failures, then the dead letter
        expect(failures.every((l) => deliverySpans.has(String(l.span_id)))).toBe(true);
      });
      // Nothing of the relay's polling joined the trace: no span starts after its parent has ended, but the
      // deliveries (which come after the commit by design).
      const byId = new Map(trace.spans.map((s) => [s.spanId, s]));
      const strays = trace.spans.filter((s) => !s.name.startsWith('deliver') && byId.has(s.parentSpanId!) && s.startMs > byId.get(s.parentSpanId!)!.endMs);
      expect(strays.map((s) => s.name)).toEqual([]);
      await service.closeApp('failing');
    } finally {
      smtpDown.close();
    }
  }, 90_000);

  it('joins the trace when the delivery is made by another instance\'s relay after a crash', async () => {
    // The doomed instance's own relay never polls again: only the other instance can deliver.
    const doomed = await service.startApp('doomed', { OUTBOX_LEASE_MS: '300', OUTBOX_POLL_MS: '600000' });
    await service.deadAfterCommit('doomed');
    const { caller } = await outOfStockUnderTrace(doomed, 'TRACE-CRASH');
    await service.closeApp('doomed'); // it "died" after the commit: OutOfStock is in the outbox, undelivered
    expect(traceOf(await service.spans(), caller.traceId).spans.filter((s) => s.name.startsWith('deliver'))).toEqual([]);

    await service.startApp('relay', { OUTBOX_LEASE_MS: '300', OUTBOX_POLL_MS: '50' });
    const trace = await eventually(async () => {
      const t = traceOf(await service.spans(), caller.traceId);
      t.one('deliver OutOfStock to OutOfStockNotifier');
      return t;
    });
    expect(trace.one('deliver OutOfStock to OutOfStockNotifier').parentSpanId).toBe(trace.one('command Allocate').spanId);
    await service.closeApp('relay');
  }, 90_000);
});

describeWithRedis('tracing through Redis streams (traceparent out and in)', () => {
  let service: TracedService;
  let redis: Redis;

  beforeAll(async () => {
    service = await TracedService.start();
    redis = new Redis(redisUrl!);
  }, 60_000);
  afterAll(async () => {
    await service?.stop();
    redis?.disconnect();
  });

  it('continues the producer\'s trace from an inbound entry, and carries the request\'s trace out on line_allocated', async () => {
    const prefix = `${unique('traced')}:`;
    const http = await service.startApp('r', { REDIS_URL: redisUrl!, REDIS_KEY_PREFIX: prefix, OUTBOX_POLL_MS: '50' });
    const sku = unique('TRACE-STREAM');
    const ref = unique('tb');
    await http.post('/add_batch').send({ ref, sku, qty: 10 }).expect(201);

    // In: an entry with a traceparent field.
    const producer = newTraceparent();
    await redis.xadd(`${prefix}change_batch_quantity`, '*', 'data', JSON.stringify({ batchref: ref, qty: 7 }), 'traceparent', producer.traceparent);
    const inbound = await eventually(async () => {
      const t = traceOf(await service.spans(), producer.traceId);
      // The delivery span ends last (after its command, and the re-check of the newest entry): wait for it.
      t.one('deliver StreamEntryReceived to ChangeBatchQuantityStreamConsumer');
      return t;
    });
    const receipt = inbound.one('receive change_batch_quantity');
    expect(receipt).toMatchObject({ kind: CONSUMER, parentSpanId: producer.spanId });
    const delivery = inbound.one('deliver StreamEntryReceived to ChangeBatchQuantityStreamConsumer');
    expect(delivery.parentSpanId).toBe(receipt.spanId);
    expect(inbound.one('command ChangeBatchQuantity').parentSpanId).toBe(delivery.spanId);
    await eventually(async () => expect((await http.get(`/products/${sku}`).expect(200)).body.batches[0].qty).toBe(7));

    // Out: the line_allocated entry of an allocation carries the request's trace.
    const caller = newTraceparent();
    const orderid = unique('o');
    await http.post('/allocate').set('traceparent', caller.traceparent).send({ orderid, sku, qty: 2 }).expect(202);
    const entry = await eventually(async () => {
      const entries = (await redis.xrange(`${prefix}line_allocated`, '-', '+')).map(([, flat]) => Object.fromEntries(flat.flatMap((v, i) => (i % 2 === 0 ? [[v, flat[i + 1]]] : []))));
      const ours = entries.find((e) => (JSON.parse(e.data) as { orderid: string }).orderid === orderid);
      expect(ours).toBeDefined();
      return ours!;
    });
    // The publication itself is a Redis span of the delivery (which ends just after the entry is added).
    await eventually(async () => {
      const outbound = traceOf(await service.spans(), caller.traceId);
      const publisher = outbound.one('deliver Allocated to LineAllocatedStreamPublisher');
      expect(entry.traceparent).toBe(`00-${caller.traceId}-${publisher.spanId}-01`);
      expect(outbound.childrenOf(publisher).map((s) => s.name)).toContain('xadd');
    });
    await service.closeApp('r');
  }, 90_000);
});

describe('tracing to a real OTLP endpoint (the service as npm start runs it)', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child?.exitCode === null) child.kill('SIGKILL'); // only if the test itself could not stop it
  });

  it('exports its spans over OTLP/HTTP (protobuf, the default) when OTEL_EXPORTER_OTLP_ENDPOINT is set', async () => {
    // A tiny OTLP receiver: it keeps what is posted to /v1/traces, and answers as a collector does.
    const bodies: { path: string; type: string; body: Buffer }[] = [];
    const receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push({ path: req.url ?? '', type: String(req.headers['content-type']), body: Buffer.concat(chunks) });
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const port = await freePort();
    const service = spawn(process.execPath, [path.resolve('dist', 'src', 'main.js')], {
      cwd: os.tmpdir(),
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_URL: process.env.DATABASE_URL,
        PORT: String(port),
        LOG_LEVEL: 'info',
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`,
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child = service;
    let output = '';
    service.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => service.on('exit', resolve));
    try {
      const api = `http://127.0.0.1:${port}`;
      await eventually(async () => expect((await fetch(`${api}/health`)).status).toBe(200), 30_000);
      const sku = unique('OTLP');
      const post = (route: string, body: unknown, headers: Record<string, string> = {}) =>
        fetch(`${api}${route}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
      expect((await post('/add_batch', { ref: unique('ob'), sku, qty: 10 })).status).toBe(201);
      const caller = newTraceparent();
      expect((await post('/allocate', { orderid: unique('o'), sku, qty: 50 }, { traceparent: caller.traceparent })).status).toBe(409);

      // Protobuf carries ids as raw bytes and names as UTF-8: enough to find our trace without a decoder.
      const traceIdBytes = Buffer.from(caller.traceId, 'hex');
      const ours = await eventually(async () => {
        const found = bodies.filter((b) => b.body.includes(traceIdBytes));
        const spans = Buffer.concat(found.map((b) => b.body));
        for (const name of ['POST /allocate', 'command Allocate', 'pg.query', 'deliver OutOfStock to OutOfStockNotifier', 'allocation-service']) expect([name, spans.includes(name)]).toEqual([name, true]);
        return found;
      });
      expect(ours.every((b) => b.path === '/v1/traces' && b.type === 'application/x-protobuf')).toBe(true);
      // Its log lines name the trace.
      expect(output).toContain(`"trace_id":"${caller.traceId}"`);
    } finally {
      service.kill('SIGTERM');
      expect(await exited).toBe(0);
      receiver.close();
    }
  }, 120_000);
});
