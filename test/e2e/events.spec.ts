import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { freePort } from '../../src/database/embedded-postgres.js';
import { OutboxDispatcher } from '../../src/messaging/outbox.dispatcher.js';
import { Metrics } from '../../src/messaging/metrics.js';
import { metricValue } from '../support/metrics.js';
import { eventually, startTestApp, type TestApp } from '../support/app.js';
import { unique } from '../support/config.js';
import { mailsAbout, startSmtpServer, type TestSmtpServer } from '../support/smtp.js';

const ADMIN = 'test-admin-token';

async function outOfStock(t: TestApp, sku: string): Promise<void> {
  await t.http.post('/add_batch').send({ ref: unique('b'), sku, qty: 1 }).expect(201);
  const res = await t.http.post('/allocate').send({ orderid: unique('o'), sku, qty: 5 });
  expect(res.status).toBe(409);
  expect(res.body.message).toBe(`Out of stock for sku ${sku}`);
}

describe('out-of-stock e-mails over a real SMTP server', () => {
  let smtp: TestSmtpServer;
  let t: TestApp;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    t = await startTestApp({
      SMTP_URL: smtp.url,
      NOTIFY_TO: 'buyers@example.test',
      SMTP_FROM: 'stock@example.test',
      EVENT_HANDLER_MAX_ATTEMPTS: '5',
      EVENT_HANDLER_BACKOFF_MS: '20',
    });
  });
  afterAll(async () => {
    await t.close();
    await smtp.close();
  });

  it('e-mails the buying team when a SKU runs out, and still answers 409', async () => {
    const sku = unique('SCARCE');
    await outOfStock(t, sku);
    const [mail] = await eventually(async () => {
      const found = mailsAbout(smtp, sku);
      if (found.length === 0) throw new Error('no mail yet');
      return found;
    });
    expect(mail.to).toEqual(['buyers@example.test']);
    expect(mail.from).toBe('stock@example.test');
    expect(mail.raw).toContain(`Subject: Out of stock for ${sku}`);
    const body = mail.raw.slice(mail.raw.indexOf('\r\n\r\n') + 4);
    expect(body.split(/\r?\n/)[0]).toBe(`Out of stock for ${sku}`);
  });

  it('delivers once a handler that fails twice, counting both failures', async () => {
    const metrics = t.app.get(Metrics);
    const labels = { event: 'OutOfStock', handler: 'OutOfStockNotifier' };
    // The metrics are process-wide: let the previous test's delivery finish counting first.
    await t.app.get(OutboxDispatcher).idle();
    const before = {
      failed: await metricValue(metrics.failures, labels),
      handled: await metricValue(metrics.handled, labels),
      dead: await metricValue(metrics.deadLetters, labels),
    };
    smtp.failNext(2);
    const sku = unique('FLAKY');
    await outOfStock(t, sku);

    await eventually(async () => expect(mailsAbout(smtp, sku)).toHaveLength(1));
    await t.app.get(OutboxDispatcher).idle();
    expect(await metricValue(metrics.failures, labels)).toBe(before.failed + 2);
    expect(await metricValue(metrics.handled, labels)).toBe(before.handled + 1);
    expect(await metricValue(metrics.deadLetters, labels)).toBe(before.dead);
    // Its retry state is gone: nothing left to do for that event.
    const rows = await t.app.get(DataSource).query(
      `SELECT d.* FROM event_deliveries d JOIN outbox o ON o.id = d.outbox_id WHERE o.sku = $1`,
      [sku],
    );
    expect(rows).toEqual([]);
  });
});

describe('SMTP down: allocation as usual, then a dead letter an operator can retry', () => {
  let port: number;
  let t: TestApp;
  let smtp: TestSmtpServer | undefined;

  beforeAll(async () => {
    port = await freePort(); // nothing listens there yet
    t = await startTestApp({
      SMTP_URL: `smtp://127.0.0.1:${port}`,
      ADMIN_TOKEN: ADMIN,
      EVENT_HANDLER_MAX_ATTEMPTS: '3',
      EVENT_HANDLER_BACKOFF_MS: '10',
    });
  });
  afterAll(async () => {
    await t.close();
    await smtp?.close();
  });

  it('answers 409 at once, retries, dead-letters, and delivers on retry once SMTP is back', async () => {
    const metrics = t.app.get(Metrics);
    const labels = { event: 'OutOfStock', handler: 'OutOfStockNotifier' };
    const deadBefore = await metricValue(metrics.deadLetters, labels);
    const sku = unique('NO-SMTP');

    await outOfStock(t, sku); // answered although the e-mail cannot be sent

    // Still allocating while the notifier fails.
    await t.http.post('/allocate').send({ orderid: unique('o'), sku, qty: 1 }).expect(202);

    const admin = () => t.http.get('/admin/failed-events').set('Authorization', `Bearer ${ADMIN}`);
    const letter = await eventually(async () => {
      const res = await admin();
      expect(res.status).toBe(200);
      const found = res.body.items.find((d: { payload: { sku: string } }) => d.payload.sku === sku);
      if (!found) throw new Error('not dead yet');
      return found;
    });
    expect(letter).toMatchObject({ event: 'OutOfStock', handler: 'OutOfStockNotifier', attempts: 3, payload: { sku } });
    expect(letter.lastError).toMatch(/ECONNREFUSED|connect/i);
    expect(await metricValue(metrics.deadLetters, labels)).toBe(deadBefore + 1);

    // While SMTP is still down, a manual retry fails and the dead letter stays.
    const failed = await t.http.post(`/admin/failed-events/${letter.id}/retry`).set('Authorization', `Bearer ${ADMIN}`);
    expect(failed.status).toBe(202);
    expect(failed.body).toMatchObject({ id: letter.id, delivered: false });

    smtp = await startSmtpServer(port);
    const retried = await t.http.post(`/admin/failed-events/${letter.id}/retry`).set('Authorization', `Bearer ${ADMIN}`);
    expect(retried.status).toBe(202);
    expect(retried.body).toEqual({ id: letter.id, delivered: true });
    expect(mailsAbout(smtp, sku)).toHaveLength(1);
    expect(mailsAbout(smtp, sku)[0].raw).toContain(sku);
    const after = await admin();
    expect(after.body.items.find((d: { id: string }) => d.id === letter.id)).toBeUndefined();

    // Retrying it again: it is gone.
    expect((await t.http.post(`/admin/failed-events/${letter.id}/retry`).set('Authorization', `Bearer ${ADMIN}`)).status).toBe(404);
  });

  it('lists dead letters newest first, paginated', async () => {
    await smtp?.close(); // SMTP down again
    smtp = undefined;
    const skus = [unique('DEAD-A'), unique('DEAD-B')];
    for (const sku of skus) {
      await outOfStock(t, sku);
      await eventually(async () => {
        const res = await t.http.get('/admin/failed-events').set('Authorization', `Bearer ${ADMIN}`);
        if (!res.body.items.some((d: { payload: { sku: string } }) => d.payload.sku === sku)) throw new Error('not yet');
      });
    }
    const page1 = await t.http.get('/admin/failed-events?limit=1').set('Authorization', `Bearer ${ADMIN}`);
    expect(page1.body.items).toHaveLength(1);
    expect(page1.body.items[0].payload.sku).toBe(skus[1]);
    expect(page1.body.total).toBeGreaterThanOrEqual(2);
    const page2 = await t.http.get('/admin/failed-events?limit=1&offset=1').set('Authorization', `Bearer ${ADMIN}`);
    expect(page2.body.items[0].payload.sku).toBe(skus[0]);
    expect((await t.http.get('/admin/failed-events?limit=0').set('Authorization', `Bearer ${ADMIN}`)).status).toBe(400);
  });

  it('refuses the admin routes without the right token', async () => {
    for (const auth of [undefined, 'Bearer wrong', `Basic ${ADMIN}`, ADMIN]) {
      const req = t.http.get('/admin/failed-events');
      const res = auth ? await req.set('Authorization', auth) : await req;
      expect(res.status).toBe(401);
      expect(typeof res.body.message).toBe('string');
    }
    expect((await t.http.post('/admin/failed-events/1/retry')).status).toBe(401);
    expect((await t.http.post('/admin/failed-events/999999999/retry').set('Authorization', `Bearer ${ADMIN}`)).status).toBe(404);
    expect((await t.http.post('/admin/failed-events/abc/retry').set('Authorization', `Bearer ${ADMIN}`)).status).toBe(404);
  });
});

describe('admin routes with no ADMIN_TOKEN configured', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ ADMIN_TOKEN: '' });
  });
  afterAll(async () => t.close());

  it('answer 401 to everyone', async () => {
    expect((await t.http.get('/admin/failed-events').set('Authorization', 'Bearer ')).status).toBe(401);
    expect((await t.http.get('/admin/failed-events').set('Authorization', 'Bearer undefined')).status).toBe(401);
  });
});

describe('GET /metrics', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  it('exposes command, event and outbox metrics and the Node process metrics, in Prometheus text', async () => {
    const sku = unique('METRICS');
    await t.http.post('/add_batch').send({ ref: unique('b'), sku, qty: 1 }).expect(201);
    await t.http.post('/allocate').send({ orderid: unique('o'), sku, qty: 1 }).expect(202);
    await t.http.post('/allocate').send({ orderid: unique('o'), sku, qty: 1 }).expect(409);
    await t.app.get(OutboxDispatcher).idle(); // the OutOfStock e-mail (logged: no SMTP) is counted once delivered
    const res = await t.http.get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    const text = res.text;
    expect(text).toMatch(/allocation_commands_total\{command="Allocate",outcome="ok"\} \d+/);
    expect(text).toMatch(/allocation_commands_total\{command="Allocate",outcome="out_of_stock"\} \d+/);
    expect(text).toMatch(/allocation_command_duration_seconds_bucket\{le="0\.05",command="Allocate"\} \d+/);
    expect(text).toMatch(/allocation_event_handled_total\{event="OutOfStock",handler="OutOfStockNotifier"\} \d+/);
    expect(text).toMatch(/allocation_outbox_pending \d+/);
    expect(text).toContain('allocation_outbox_oldest_pending_age_seconds ');
    expect(text).toContain('allocation_event_dead_letters ');
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
  });
});
