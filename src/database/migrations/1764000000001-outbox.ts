import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Outbox1764000000001 implements MigrationInterface {
  name = 'Outbox1764000000001';

  async up(q: QueryRunner): Promise<void> {
    // Events written in the command's transaction. A row is leased (claimed_until) by whoever dispatches it:
    // first the instance that committed it, then, should that one die, any relay once the lease ran out.
    await q.query(`
      CREATE TABLE outbox (
        id bigserial PRIMARY KEY,
        event_id uuid NOT NULL UNIQUE,
        name varchar(100) NOT NULL,
        sku varchar(255) NOT NULL,
        payload jsonb NOT NULL,
        request_id varchar(200),
        created_at timestamptz NOT NULL DEFAULT now(),
        claimed_until timestamptz NOT NULL DEFAULT now(),
        dispatched_at timestamptz
      )`);
    await q.query(`CREATE INDEX outbox_undispatched_idx ON outbox (id) WHERE dispatched_at IS NULL`);
    await q.query(`CREATE INDEX outbox_dispatched_at_idx ON outbox (dispatched_at) WHERE dispatched_at IS NOT NULL`);
    // One row per (event, handler) that failed: retried with back-off until it succeeds (row deleted) or
    // runs out of attempts (status 'dead': a dead letter for operators).
    await q.query(`
      CREATE TABLE event_deliveries (
        id bigserial PRIMARY KEY,
        outbox_id bigint NOT NULL REFERENCES outbox (id),
        handler varchar(100) NOT NULL,
        status varchar(10) NOT NULL CHECK (status IN ('retrying', 'dead')),
        attempts integer NOT NULL,
        next_attempt_at timestamptz NOT NULL,
        claimed_until timestamptz NOT NULL DEFAULT now(),
        last_error text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (outbox_id, handler)
      )`);
    await q.query(`CREATE INDEX event_deliveries_due_idx ON event_deliveries (next_attempt_at) WHERE status = 'retrying'`);
    await q.query(`CREATE INDEX event_deliveries_dead_idx ON event_deliveries (updated_at DESC, id DESC) WHERE status = 'dead'`);
    // E-mails already sent, by event: a redelivered OutOfStock does not e-mail twice.
    await q.query(`
      CREATE TABLE sent_notifications (
        event_id uuid PRIMARY KEY,
        sent_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE sent_notifications`);
    await q.query(`DROP TABLE event_deliveries`);
    await q.query(`DROP TABLE outbox`);
  }
}
