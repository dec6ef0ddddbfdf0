import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DeliveryStats } from '../../src/messaging/delivery-stats.js';
import { ResilientHandler } from '../../src/messaging/resilient-handler.js';
import { freePort } from '../../src/database/embedded-postgres.js';
import { eventually, startTestApp, type TestApp } from '../support/app.js';
import { unique } from '../support/config.js';
import { startSmtpServer } from '../support/smtp.js';

describe('out-of-stock notifications over SMTP', () => {
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let t: TestApp;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    t = await startTestApp({ SMTP_URL: smtp.url, NOTIFY_TO: 'buyers@example.test', SMTP_FROM: 'stock@example.test' });
  });
  afterAll(async () => {
    await t.close();
    await smtp.close();
  });

  it('e-mails the buying team when a SKU runs out, and still answers 409', async () => {
    const sku = unique('SCARCE');
    await t.http.post('/add_batch').send({ ref: unique('b'), sku, qty: 1 }).expect(201);
    const res = await t.http.post('/allocate').send({ orderid: unique('o'), sku, qty: 2 });
    expect(res.status).toBe(409);
    const mail = await eventually(async () => {
      const found = smtp.mails.find((m) => m.raw.includes(sku));
      if (!found) throw new Error('no mail yet');
      return found;
    });
    expect(mail.to).toEqual(['buyers@example.test']);
    expect(mail.from).toBe('stock@example.test');
    expect(mail.raw).toContain(`Subject: Out of stock: ${sku}`);
  });
});

describe('a failing event handler never fails the command', () => {
  let t: TestApp;

  beforeAll(async () => {
    const closedPort = await freePort(); // nothing listens there: every send fails
    t = await startTestApp({
      SMTP_URL: `smtp://127.0.0.1:${closedPort}`,
      EVENT_HANDLER_MAX_ATTEMPTS: '3',
      EVENT_HANDLER_BACKOFF_MS: '5',
    });
  });
  afterAll(async () => t.close());

  it('answers as usual while the notifier fails, retries it, and counts it as given up', async () => {
    const sku = unique('NO-SMTP');
    await t.http.post('/add_batch').send({ ref: unique('b'), sku, qty: 1 }).expect(201);
    const stats = t.app.get(DeliveryStats);
    const before = stats.get('OutOfStock', 'OutOfStockNotifier');

    const started = Date.now();
    const res = await t.http.post('/allocate').send({ orderid: unique('o'), sku, qty: 5 });
    expect(res.status).toBe(409);
    expect(res.body.message).toBe(`Out of stock for sku ${sku}`);
    expect(Date.now() - started).toBeLessThan(2000); // the answer does not wait for the e-mail

    await t.app.get(ResilientHandler).drain();
    const after = stats.get('OutOfStock', 'OutOfStockNotifier');
    expect(after.failed - before.failed).toBe(3);
    expect(after.gaveUp - before.gaveUp).toBe(1);
    expect(after.handled - before.handled).toBe(0);

    // The service keeps working: an allocation that fits still goes through.
    const ok = await t.http.post('/allocate').send({ orderid: unique('o'), sku, qty: 1 });
    expect(ok.status).toBe(202);
  });
});
