import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { DataSource } from 'typeorm';
import { OutboxStore } from '../../src/messaging/outbox.store.js';
import { unique } from '../support/config.js';
import { openDataSource } from '../support/database.js';

describe('outbox store (real PostgreSQL)', () => {
  let dataSource: DataSource;
  let store: OutboxStore;

  beforeAll(async () => {
    dataSource = await openDataSource();
    store = new OutboxStore(dataSource);
  });
  afterAll(async () => dataSource.destroy());

  const insert = async (sku: string, dispatchedDaysAgo: number | null, claimedUntil = 'now()') => {
    const [row] = await dataSource.query(
      `INSERT INTO outbox (event_id, name, sku, payload, claimed_until, dispatched_at, created_at)
       VALUES (gen_random_uuid(), 'OutOfStock', $1::varchar, jsonb_build_object('sku', $1::varchar), ${claimedUntil},
               CASE WHEN $2::int IS NULL THEN NULL ELSE now() - make_interval(days => $2::int) END,
               now() - make_interval(days => COALESCE($2::int, 0)))
       RETURNING id`,
      [sku, dispatchedDaysAgo],
    );
    return String(row.id);
  };

  it('prunes old dispatched events, but keeps recent ones, undispatched ones and those a dead letter needs', async () => {
    const sku = unique('PRUNE');
    const old = await insert(sku, 3);
    const older = await insert(sku, 4);
    const recent = await insert(sku, 0);
    const undispatched = await insert(sku, null, "now() + interval '1 hour'");
    const withDeadLetter = await insert(sku, 3);
    await dataSource.query(
      `INSERT INTO event_deliveries (outbox_id, handler, status, attempts, next_attempt_at, last_error) VALUES ($1, 'X', 'dead', 5, now(), 'e')`,
      [withDeadLetter],
    );
    const [oldMail, newMail] = [randomUUID(), randomUUID()];
    await dataSource.query(
      `INSERT INTO sent_notifications (event_id, sent_at) VALUES ($1, now() - interval '3 days'), ($2, now())`,
      [oldMail, newMail],
    );
    await store.prune(24 * 3_600_000, 1); // batches of one: it goes on until none is left
    const left = await dataSource.query(`SELECT id FROM outbox WHERE sku = $1 ORDER BY id`, [sku]);
    const mails = await dataSource.query(`SELECT event_id FROM sent_notifications WHERE event_id = ANY($1::uuid[])`, [[oldMail, newMail]]);
    expect(mails).toEqual([{ event_id: newMail }]);
    expect(left.map((r: { id: string }) => String(r.id))).toEqual([recent, undispatched, withDeadLetter]);
    expect(left.map((r: { id: string }) => String(r.id))).not.toContain(old);
    expect(left.map((r: { id: string }) => String(r.id))).not.toContain(older);
  });

  it('lets only one of several relays claim an undispatched event, and only once its lease ran out', async () => {
    const sku = unique('CLAIM');
    const leased = await insert(sku, null, "now() + interval '1 hour'");
    const free = await insert(sku, null, "now() - interval '1 second'");
    const claims = await Promise.all(Array.from({ length: 5 }, () => store.claimUndispatched(1000, 60_000)));
    const mine = claims.flat().filter((r) => (r.payload as { sku: string }).sku === sku).map((r) => String(r.id));
    expect(mine).toEqual([free]);
    expect(mine).not.toContain(leased);
  });

  it('lists dead letters newest first with their event, and finds one by id', async () => {
    const sku = unique('DEAD');
    const { total: before } = await store.deadLetters(1, 0);
    const [older, newer, retrying] = [await insert(sku, null), await insert(sku, null), await insert(sku, null)];
    const deliver = (outboxId: string, status: string, updatedAt: string) =>
      dataSource
        .query(
          `INSERT INTO event_deliveries (outbox_id, handler, status, attempts, next_attempt_at, last_error, updated_at)
           VALUES ($1::bigint, 'H', $2, 5, now(), 'boom ' || $1::bigint, ${updatedAt}) RETURNING id`,
          [outboxId, status],
        )
        .then(([row]: { id: string }[]) => String(row.id));
    // Later than any other row of this file's database, so these two come first.
    const olderId = await deliver(older, 'dead', "now() + interval '1 hour'");
    const newerId = await deliver(newer, 'dead', "now() + interval '2 hours'");
    const retryingId = await deliver(retrying, 'retrying', "now() + interval '3 hours'");

    const page = await store.deadLetters(2, 0);
    expect(page.total).toBe(before + 2);
    expect(page.items.map((d) => d.id)).toEqual([newerId, olderId]);
    const [outbox] = await dataSource.query(`SELECT event_id, created_at FROM outbox WHERE id = $1`, [newer]);
    const [delivery] = await dataSource.query(`SELECT updated_at FROM event_deliveries WHERE id = $1`, [newerId]);
    expect(page.items[0]).toEqual({
      id: newerId,
      state: 'dead',
      eventId: outbox.event_id,
      event: 'OutOfStock',
      payload: { sku },
      handler: 'H',
      attempts: 5,
      lastError: `boom ${newer}`,
      requestId: null,
      failedAt: delivery.updated_at.toISOString(),
      eventCreatedAt: outbox.created_at.toISOString(),
    });
    expect((await store.deadLetters(1, 1)).items.map((d) => d.id)).toEqual([olderId]);
    expect(await store.deadLetter(olderId)).toEqual({ ...page.items[1], history: expect.any(Array) });
    expect(await store.deadLetter(retryingId)).toBeUndefined();
    expect(await store.claimDead(retryingId, 60_000)).toBeUndefined();
  });
});
