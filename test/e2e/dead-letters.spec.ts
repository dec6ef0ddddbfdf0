import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import net, { type AddressInfo } from 'node:net';
import { OutboxDispatcher } from '../../src/messaging/outbox.dispatcher.js';
import { eventually, startTestApp, type TestApp } from '../support/app.js';
import { unique } from '../support/config.js';
import { mailsAbout, startSmtpServer, type TestSmtpServer } from '../support/smtp.js';

const ADMIN = 'dead-letters-admin';
const auth = { Authorization: `Bearer ${ADMIN}` };

interface Letter {
  id: string;
  state: string;
  payload: { sku: string };
  history: { action: string; attempt?: number; outcome?: string; reason?: string; by?: string; error?: string }[];
}

describe('dead letters handled in bulk, after an SMTP outage', () => {
  let port: number;
  let refusing: net.Server;
  let smtp: TestSmtpServer | undefined;
  let t: TestApp;
  const skus = Array.from({ length: 50 }, (_, i) => unique(`BULK-${i}`));
  let started: string;
  let letters: Letter[];

  beforeAll(async () => {
    // SMTP is down: the port is held by a listener that hangs up at once, so every e-mail fails fast, and no
    // other server of a parallel test file can take the port before SMTP comes back on it.
    refusing = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    port = (refusing.address() as AddressInfo).port;
    t = await startTestApp({ SMTP_URL: `smtp://127.0.0.1:${port}`, ADMIN_TOKEN: ADMIN, EVENT_HANDLER_MAX_ATTEMPTS: '2', EVENT_HANDLER_BACKOFF_MS: '20' });
    started = new Date(Date.now() - 1000).toISOString();
    for (const sku of skus) {
      await t.http.post('/add_batch').send({ ref: unique('b'), sku, qty: 1 }).expect(201);
      await t.http.post('/allocate').send({ orderid: unique('o'), sku, qty: 5 }).expect(409);
    }
    letters = await eventually(async () => {
      const res = await t.http.get('/admin/failed-events?limit=500').set(auth).expect(200);
      const ours = (res.body.items as Letter[]).filter((l) => skus.includes(l.payload.sku));
      expect(ours).toHaveLength(50);
      return ours;
    }, 60_000);
  }, 90_000);
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
    if (refusing.listening) await new Promise((resolve) => refusing.close(resolve));
  });

  it('shows one dead letter with its payload and its history of attempts', async () => {
    const res = await t.http.get(`/admin/failed-events/${letters[0].id}`).set(auth).expect(200);
    expect(res.body).toMatchObject({ id: letters[0].id, state: 'dead', event: 'OutOfStock', handler: 'OutOfStockNotifier', attempts: 2, payload: { sku: letters[0].payload.sku } });
    expect(res.body.history.map((h: Letter['history'][number]) => [h.action, h.attempt])).toEqual([
      ['attempt_failed', 1],
      ['attempt_failed', 2],
      ['dead_lettered', undefined],
    ]);
    expect(res.body.history[0].error).toMatch(/ECONNREFUSED|connect/i);
    expect((await t.http.get('/admin/failed-events/999999999').set(auth)).status).toBe(404);
    expect((await t.http.get('/admin/failed-events/abc').set(auth)).status).toBe(404);
  });

  it('discards a letter with a reason: kept, listed as discarded, never retried', async () => {
    const discarded = letters[0];
    expect((await t.http.delete(`/admin/failed-events/${discarded.id}`).set(auth).send({})).status).toBe(400);
    expect((await t.http.delete(`/admin/failed-events/${discarded.id}`).set(auth).send({ reason: '' })).status).toBe(400);
    expect((await t.http.delete('/admin/failed-events/999999999').set(auth).send({ reason: 'x' })).status).toBe(404);
    await t.http.delete(`/admin/failed-events/${discarded.id}`).set(auth).send({ reason: 'the SKU was withdrawn' }).expect(204);
    expect((await t.http.delete(`/admin/failed-events/${discarded.id}`).set(auth).send({ reason: 'again' })).status).toBe(404);

    const dead = await t.http.get('/admin/failed-events?limit=500').set(auth);
    expect((dead.body.items as Letter[]).map((l) => l.id)).not.toContain(discarded.id);
    const listed = await t.http.get('/admin/failed-events?state=discarded&limit=500').set(auth).expect(200);
    expect((listed.body.items as Letter[]).find((l) => l.id === discarded.id)).toMatchObject({ state: 'discarded' });
    const one = await t.http.get(`/admin/failed-events/${discarded.id}`).set(auth).expect(200);
    expect(one.body.history.at(-1)).toMatchObject({ action: 'discarded', reason: 'the SKU was withdrawn', by: 'operator' });
    expect((await t.http.post(`/admin/failed-events/${discarded.id}/retry`).set(auth)).status).toBe(404);
    expect((await t.http.get('/admin/failed-events?state=gone').set(auth)).status).toBe(400);
  });

  it('replays by filter once SMTP is back: counts right, one e-mail each, the discarded one left alone', async () => {
    for (const body of [{ since: 'yesterday' }, { handler: '' }, { since: '2026-12-04T10:00:00Z', until: '2026-12-04T09:00:00Z' }]) {
      const res = await t.http.post('/admin/failed-events/retry').set(auth).send(body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
    }
    // A filter that matches none of them.
    expect((await t.http.post('/admin/failed-events/retry').set(auth).send({ handler: 'NoSuchHandler' })).body).toEqual({ matched: 0, delivered: 0, failed: 0 });

    await new Promise((resolve) => refusing.close(resolve));
    smtp = await startSmtpServer(port);
    const res = await t.http.post('/admin/failed-events/retry').set(auth).send({ handler: 'OutOfStockNotifier', event: 'OutOfStock', since: started });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ matched: 49, delivered: 49, failed: 0 });

    const discarded = letters[0].payload.sku;
    for (const sku of skus.filter((s) => s !== discarded)) expect(mailsAbout(smtp, sku)).toHaveLength(1);
    expect(mailsAbout(smtp, discarded)).toHaveLength(0);
    await t.app.get(OutboxDispatcher).idle();
    expect(smtp.mails.filter((m) => skus.some((s) => m.raw.includes(s)))).toHaveLength(49);

    // They are no longer dead letters; each keeps the operator's retry in its history.
    expect((await t.http.post('/admin/failed-events/retry').set(auth).send({ since: started })).body).toEqual({ matched: 0, delivered: 0, failed: 0 });
    const one = await t.http.get(`/admin/failed-events/${letters[1].id}`).set(auth).expect(200);
    expect(one.body.state).toBe('delivered');
    expect(one.body.history.at(-1)).toMatchObject({ action: 'retried', outcome: 'delivered', by: 'operator' });
    const delivered = await t.http.get('/admin/failed-events?state=delivered&limit=500').set(auth);
    expect((delivered.body.items as Letter[]).filter((l) => skus.includes(l.payload.sku))).toHaveLength(49);
  });

  it('refuses the new routes without the token', async () => {
    expect((await t.http.get(`/admin/failed-events/${letters[0].id}`)).status).toBe(401);
    expect((await t.http.post('/admin/failed-events/retry').send({})).status).toBe(401);
    expect((await t.http.delete(`/admin/failed-events/${letters[0].id}`).send({ reason: 'x' })).status).toBe(401);
  });
});
