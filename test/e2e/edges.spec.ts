import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import pg from 'pg';
import { startTestApp, type TestApp } from '../support/app.js';
import { unique } from '../support/config.js';
import { CapturedLogs } from '../support/logs.js';

/** Sends raw bytes and returns everything the server answers before it closes the connection. */
function rawRequest(server: Server, bytes: string): Promise<string> {
  if (!server.listening) server.listen(0, '127.0.0.1');
  return new Promise((resolve, reject) => {
    const connect = () => {
      const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
      let answer = '';
      socket.on('data', (d) => (answer += d.toString()));
      socket.on('close', () => resolve(answer));
      socket.on('error', reject);
      socket.write(bytes);
    };
    if (server.listening) connect();
    else server.once('listening', connect);
  });
}

function jsonBody(answer: string): { status: number; body: { message?: unknown } } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
  return { status, body: JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) };
}

describe('edges of the HTTP API', () => {
  let t: TestApp;
  const sku = unique('EDGE');
  const ref = unique('edge-batch');

  beforeAll(async () => {
    t = await startTestApp({ HTTP_REQUEST_TIMEOUT_MS: '500', HTTP_HEADERS_TIMEOUT_MS: '500' });
    await t.http.post('/add_batch').send({ ref, sku, qty: 10 }).expect(201);
  });
  afterAll(async () => t.close());

  it('answers 400 to JSON nested thousands of levels deep, not a 500', async () => {
    const body = `{"orderid":"o","sku":"${sku}","qty":1,"x":${'['.repeat(3000)}${']'.repeat(3000)}}`;
    const res = await t.http.post('/allocate').set('content-type', 'application/json').send(body);
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/nested deeper than/);
  });

  it('answers 400 to unpaired UTF-16 surrogates, and stores nothing', async () => {
    const allocate = await t.http.post('/allocate').set('content-type', 'application/json').send(`{"orderid":"lone-\\ud800","sku":"${sku}","qty":1}`);
    expect(allocate.status).toBe(400);
    expect(String(allocate.body.message)).toMatch(/surrogate/);
    const loneRef = `ls-${unique('x')}`;
    const add = await t.http.post('/add_batch').set('content-type', 'application/json').send(`{"ref":"${loneRef}\\udfff","sku":"${sku}","qty":1}`);
    expect(add.status).toBe(400);
    expect((await t.http.post('/change_batch_quantity').send({ ref: `${loneRef}\ufffd`, qty: 1 })).status).toBe(404);
    // A surrogate pair (a valid character outside the BMP) is fine.
    const pair = await t.http.post('/allocate').send({ orderid: unique('emoji-\u{1F600}'), sku, qty: 1 });
    expect(pair.status).toBe(202);
  });

  it('answers a URL too large with 431 and a JSON message', async () => {
    const answer = await rawRequest(t.app.getHttpServer(), `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(jsonBody(answer)).toMatchObject({ status: 431, body: { message: expect.any(String) } });
    expect(answer).toMatch(/content-type: application\/json/i);
  });

  it('answers a control character in a header with 400 and a JSON message', async () => {
    const answer = await rawRequest(t.app.getHttpServer(), `GET /health HTTP/1.1\r\nHost: x\r\nX-Bad: a\u0001b\r\n\r\n`);
    expect(jsonBody(answer)).toMatchObject({ status: 400, body: { message: expect.any(String) } });
  });

  it('answers a body that never finishes with 408 and a JSON message, and closes the connection', async () => {
    const answer = await rawRequest(
      t.app.getHttpServer(),
      `POST /allocate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"orderid":`,
    );
    expect(jsonBody(answer)).toMatchObject({ status: 408, body: { message: expect.stringMatching(/timeout/) } });
  });
});

describe('a database that refuses connections', () => {
  let t: TestApp;
  let admin: pg.Client;
  let database: string;
  const logs = new CapturedLogs();

  beforeAll(async () => {
    t = await startTestApp({}, logs.logger);
    // The operator's session, on another database of the same server (one cannot lock out one's own).
    const url = new URL(process.env.DATABASE_URL!);
    database = url.pathname.slice(1);
    url.pathname = '/postgres';
    admin = new pg.Client({ connectionString: url.toString() });
    await admin.connect();
  });
  afterAll(async () => {
    await admin.query(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS true`);
    await admin.end();
    await t.close();
  });

  it('answers 503 with Retry-After (SQLSTATE 55000), never a 500', async () => {
    const sku = unique('REFUSED');
    await t.http.post('/add_batch').send({ ref: unique('b'), sku, qty: 10 }).expect(201);
    await admin.query(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS false`);
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
    const answers = [];
    for (let i = 0; i < 5; i++) {
      answers.push(await t.http.post('/allocate').send({ orderid: unique('o'), sku, qty: 1 }));
      answers.push(await t.http.get(`/products/${sku}`));
    }
    for (const res of answers) {
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toMatch(/^\d+$/);
      expect(res.body.message).toMatch(/database/i);
      // Logged once, as a warning with its cause, on the request's own line.
      const lines = logs.entries.filter((e) => e.requestId === res.headers['x-request-id']);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ status: 503, level: 40 });
    }
    const metrics = await t.http.get('/metrics');
    expect(metrics.text).toMatch(/^allocation_outbox_pending NaN$/im) // unknown, not a stale 0;
    expect(metrics.text).toMatch(/^allocation_outbox_stats_up 0$/m);
  });
});
