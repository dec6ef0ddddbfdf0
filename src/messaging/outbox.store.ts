import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { DataSource, type Repository, type SelectQueryBuilder } from 'typeorm';
import type { Event, Origin, StoredEvent } from './event.js';
import { encodeEvent, type OutboxRow } from './event-codec.js';
import { type DeliveryHistoryEntry, EventDeliveryEntity } from './event-delivery.entity.js';

export type { OutboxRow };

export interface DeliveryRow extends OutboxRow {
  delivery_id: string;
  handler: string;
  attempts: number;
}

/**
 * Events as the outbox's columns, one array each, so that the INSERT's size never grows with their number
 * (50,000 Deallocated events are still a handful of parameters). Ids are made here: handlers key their
 * idempotency on them. Each event keeps the origin (request id, trace) of the request that recorded it:
 * one origin for all, or one per event when a unit of work served several requests. Origins travel once
 * each, with every event's index into them: a shrink's 50,000 events would otherwise repeat one request id
 * and traceparent 50,000 times (3.75 MB of text, held twice while the statement is sent).
 */
export class OutboxRows {
  readonly eventIds: string[];
  readonly names: string[];
  readonly skus: (string | null)[];
  readonly payloads: string[];
  /** Each event's origin: a 1-based index into requestIds and traceparents, which hold each origin once. */
  readonly originIndexes: number[];
  readonly requestIds: (string | null)[];
  readonly traceparents: (string | null)[];
  private readonly origins: readonly Origin[];

  constructor(
    readonly events: readonly Event[],
    origin: Origin | readonly Origin[],
  ) {
    const encoded = events.map(encodeEvent);
    this.origins = Array.isArray(origin) ? origin : events.map(() => origin as Origin);
    if (this.origins.length !== events.length) throw new Error('one origin per event');
    // Lower-cased, an id is one flat string: randomUUID() returns a tree of the 20-odd pieces Node joins it
    // from (V8 flattens a concatenation only once it is read whole), ~470 bytes instead of ~60, and a
    // shrink's 50,000 events held 23 MB of such trees until they were sent.
    this.eventIds = events.map(() => randomUUID().toLowerCase());
    this.names = encoded.map((e) => e.name);
    this.skus = encoded.map((e) => e.sku);
    this.payloads = encoded.map((e) => JSON.stringify(e.payload));
    const indexes = new Map<Origin, number>();
    this.originIndexes = this.origins.map((o) => {
      if (!indexes.has(o)) indexes.set(o, indexes.size + 1);
      return indexes.get(o)!;
    });
    const distinct = [...indexes.keys()];
    this.requestIds = distinct.map((o) => o.requestId ?? null);
    this.traceparents = distinct.map((o) => o.traceparent ?? null);
  }

  /** The events with their envelopes, given the outbox ids the INSERT returned (in order). */
  stored(ids: readonly (string | number)[]): StoredEvent[] {
    return this.events.map((event, i) => ({ event, envelope: { outboxId: String(ids[i]), eventId: this.eventIds[i], ...this.origins[i] } }));
  }

  /** The arrays in the order of outboxInsert's placeholders $first, $first+1, …, then `extra` values. */
  values(...extra: unknown[]): unknown[] {
    return [this.eventIds, this.names, this.skus, this.payloads, this.originIndexes, this.requestIds, this.traceparents, ...extra];
  }
}

export interface OutboxPlaceholders {
  eventIds: string;
  names: string;
  skus: string;
  payloads: string;
  originIndexes: string;
  requestIds: string;
  traceparents: string;
  leaseMs: string;
}

/** outboxInsert's placeholders when its arrays are the statement's first parameters, in OutboxRows.values order. */
export const OUTBOX_PARAMETERS: OutboxPlaceholders = {
  eventIds: '$1',
  names: '$2',
  skus: '$3',
  payloads: '$4',
  originIndexes: '$5',
  requestIds: '$6',
  traceparents: '$7',
  leaseMs: '$8',
};

/**
 * The INSERT of outbox rows, for a statement of its own or a CTE of the statement that commits the change
 * they describe. `$` names the placeholders of the arrays (event ids, names, skus, payloads, request ids,
 * traceparents) and of the lease; `where`, a condition. Rows start leased to this instance, which
 * dispatches them right after the commit; a relay takes them only if the lease runs out.
 */
export function outboxInsert($: OutboxPlaceholders, where = 'true'): string {
  return `INSERT INTO outbox (event_id, name, sku, payload, request_id, traceparent, claimed_until)
       SELECT e.event_id, e.name, e.sku, e.payload, (${$.requestIds}::varchar[])[e.origin], (${$.traceparents}::varchar[])[e.origin],
              now() + make_interval(secs => ${$.leaseMs}::double precision / 1000)
         FROM unnest(${$.eventIds}::uuid[], ${$.names}::varchar[], ${$.skus}::varchar[], ${$.payloads}::jsonb[], ${$.originIndexes}::int[])
              WITH ORDINALITY AS e(event_id, name, sku, payload, origin, n)
        WHERE ${where}
        ORDER BY e.n
       RETURNING id`;
}

/** SQL appending one entry to a delivery's history (`fields`: SQL pairs for jsonb_build_object after `at`, `action`). */
function appendHistory(column: string, action: string, fields = ''): string {
  return `${column} || jsonb_build_array(jsonb_strip_nulls(jsonb_build_object('at', now(), 'action', '${action}'${fields ? `, ${fields}` : ''})))`;
}

/** How a failed delivery goes on: tried again after `delayMs(attempts)`, or dead after the last attempt. */
export interface RetryRule {
  maxAttempts: number;
  delayMs: (attempts: number) => number;
  /** The failure will not pass on a retry: dead at once. */
  permanent: boolean;
}

export interface RetryOutcome {
  attempts: number;
  dead: boolean;
  delayMs: number;
}

/** A dead letter waits for an operator; one discarded, or delivered by an operator's retry, is kept. */
export const DEAD_LETTER_STATES = ['dead', 'discarded', 'delivered'] as const;
export type DeadLetterState = (typeof DEAD_LETTER_STATES)[number];

export interface DeadLetter {
  id: string;
  state: DeadLetterState;
  eventId: string;
  event: string;
  payload: Record<string, unknown>;
  handler: string;
  attempts: number;
  lastError: string;
  requestId: string | null;
  failedAt: string;
  eventCreatedAt: string;
}

export interface DeadLetterDetail extends DeadLetter {
  history: DeliveryHistoryEntry[];
}

/** Which dead letters a bulk operation takes: by handler, by event, by when they last failed. */
export interface DeadLetterFilter {
  handler?: string;
  event?: string;
  since?: Date;
  until?: Date;
}

function deadLetter(d: EventDeliveryEntity): DeadLetter {
  return {
    id: d.id,
    state: d.status as DeadLetterState,
    eventId: d.outbox.eventId,
    event: d.outbox.name,
    payload: d.outbox.payload,
    handler: d.handler,
    attempts: d.attempts,
    lastError: d.lastError,
    requestId: d.outbox.requestId,
    failedAt: d.updatedAt.toISOString(),
    eventCreatedAt: d.outbox.createdAt.toISOString(),
  };
}

/**
 * The SQL of the transactional outbox and of per-handler delivery state. What the service runs per event
 * is hand-written (unnest, SKIP LOCKED, leases); the operators' reads go through the entities.
 */
@Injectable()
export class OutboxStore {
  constructor(private readonly dataSource: DataSource) {}

  private get deliveries(): Repository<EventDeliveryEntity> {
    return this.dataSource.getRepository(EventDeliveryEntity);
  }

  /** Appends events on their own (messages received from other systems, into the inbox). */
  async append(events: readonly Event[], origin: Origin, leaseMs: number): Promise<StoredEvent[]> {
    const rows = new OutboxRows(events, origin);
    const inserted: { id: string }[] = await this.dataSource.query(outboxInsert(OUTBOX_PARAMETERS), rows.values(leaseMs));
    return rows.stored(inserted.map((r) => r.id));
  }

  /** Extends the lease of events this instance is still dispatching (those dispatched meanwhile are left). */
  async renewLeases(ids: readonly string[], leaseMs: number): Promise<void> {
    if (ids.length === 0) return;
    await this.dataSource.query(
      `UPDATE outbox SET claimed_until = now() + make_interval(secs => $2::double precision / 1000)
        WHERE id = ANY($1::bigint[]) AND dispatched_at IS NULL`,
      [ids, leaseMs],
    );
  }

  async markDispatched(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.dataSource.query('UPDATE outbox SET dispatched_at = now() WHERE id = ANY($1::bigint[])', [ids]);
  }

  /** Events whose dispatch never completed (their instance died, or recording a failure failed). */
  async claimUndispatched(limit: number, leaseMs: number): Promise<OutboxRow[]> {
    return this.dataSource.query(
      `UPDATE outbox o SET claimed_until = now() + make_interval(secs => $2::double precision / 1000)
        WHERE o.id IN (SELECT id FROM outbox
                        WHERE dispatched_at IS NULL AND claimed_until <= now()
                        ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING o.id, o.event_id, o.name, o.payload, o.request_id, o.traceparent`,
      [limit, leaseMs],
    ).then(([rows]: [OutboxRow[]]) => rows.sort((a, b) => Number(a.id) - Number(b.id)));
  }

  /** Records a failed attempt; returns whether the delivery is now dead and when it is tried next. */
  async recordFailure(outboxId: string, handler: string, error: string, rule: RetryRule): Promise<RetryOutcome> {
    const [row]: { attempts: number }[] = await this.dataSource.query(
      // Held (claimed) until it is scheduled just below, so no relay retries it in between.
      `INSERT INTO event_deliveries (outbox_id, handler, status, attempts, next_attempt_at, claimed_until, last_error, history)
       VALUES ($1, $2, 'retrying', 1, now(), now() + interval '1 minute', $3, ${appendHistory("'[]'::jsonb", 'attempt_failed', "'attempt', 1, 'error', $3::text")})
       ON CONFLICT (outbox_id, handler) DO UPDATE
         SET attempts = event_deliveries.attempts + 1, last_error = EXCLUDED.last_error, updated_at = now(),
             claimed_until = now() + interval '1 minute',
             history = ${appendHistory('event_deliveries.history', 'attempt_failed', "'attempt', event_deliveries.attempts + 1, 'error', $3::text")}
       RETURNING attempts`,
      [outboxId, handler, error],
    );
    return this.schedule({ outboxId, handler }, row.attempts, rule);
  }

  private async schedule(
    key: { outboxId: string; handler: string } | { deliveryId: string },
    attempts: number,
    rule: RetryRule,
  ): Promise<RetryOutcome> {
    const dead = rule.permanent || attempts >= rule.maxAttempts;
    const delay = dead ? 0 : rule.delayMs(attempts);
    const where = 'deliveryId' in key ? 'id = $1' : 'outbox_id = $1 AND handler = $4';
    const params = 'deliveryId' in key ? [key.deliveryId, dead ? 'dead' : 'retrying', delay] : [key.outboxId, dead ? 'dead' : 'retrying', delay, key.handler];
    await this.dataSource.query(
      `UPDATE event_deliveries
          SET status = $2::varchar, next_attempt_at = now() + make_interval(secs => $3::double precision / 1000),
              claimed_until = now(), updated_at = now(),
              history = CASE WHEN $2::varchar = 'dead' AND status <> 'dead' THEN ${appendHistory('history', 'dead_lettered')} ELSE history END
        WHERE ${where}`,
      params,
    );
    return { attempts, dead, delayMs: delay };
  }

  /** Failed deliveries whose next attempt is due, leased to the caller. */
  async claimDue(limit: number, leaseMs: number): Promise<DeliveryRow[]> {
    return this.dataSource.query(
      `WITH claimed AS (
         UPDATE event_deliveries d SET claimed_until = now() + make_interval(secs => $2::double precision / 1000)
          WHERE d.id IN (SELECT id FROM event_deliveries
                          WHERE status = 'retrying' AND next_attempt_at <= now() AND claimed_until <= now()
                          ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING d.id, d.outbox_id, d.handler, d.attempts)
       SELECT c.id AS delivery_id, c.handler, c.attempts, o.id, o.event_id, o.name, o.payload, o.request_id, o.traceparent
         FROM claimed c JOIN outbox o ON o.id = c.outbox_id`,
      [limit, leaseMs],
    );
  }

  /** Leases one dead letter for a manual retry: undefined if unknown, 'busy' if someone is retrying it. */
  async claimDead(id: string, leaseMs: number): Promise<DeliveryRow | 'busy' | undefined> {
    const rows: DeliveryRow[] = await this.dataSource.query(
      `WITH claimed AS (
         UPDATE event_deliveries SET claimed_until = now() + make_interval(secs => $2::double precision / 1000)
          WHERE id = $1 AND status = 'dead' AND claimed_until <= now()
         RETURNING id, outbox_id, handler, attempts)
       SELECT c.id AS delivery_id, c.handler, c.attempts, o.id, o.event_id, o.name, o.payload, o.request_id, o.traceparent
         FROM claimed c JOIN outbox o ON o.id = c.outbox_id`,
      [id, leaseMs],
    );
    if (rows.length > 0) return rows[0];
    return (await this.deliveries.existsBy({ id, status: 'dead' })) ? 'busy' : undefined;
  }

  /** A retry succeeded: the delivery is done (one an operator retried is kept, with the retry in its history). */
  async succeeded(deliveryId: string, byOperator = false): Promise<void> {
    if (!byOperator) {
      await this.dataSource.query('DELETE FROM event_deliveries WHERE id = $1', [deliveryId]);
      return;
    }
    await this.dataSource.query(
      `UPDATE event_deliveries SET status = 'delivered', claimed_until = now(), updated_at = now(),
              history = ${appendHistory('history', 'retried', "'outcome', 'delivered', 'by', 'operator'")}
        WHERE id = $1`,
      [deliveryId],
    );
  }

  async failed(deliveryId: string, attempts: number, error: string, rule: RetryRule, byOperator = false): Promise<RetryOutcome> {
    const entry = byOperator
      ? appendHistory('history', 'retried', "'outcome', 'failed', 'attempt', $2::int, 'error', $3::text, 'by', 'operator'")
      : appendHistory('history', 'attempt_failed', "'attempt', $2::int, 'error', $3::text");
    await this.dataSource.query(`UPDATE event_deliveries SET attempts = $2, last_error = $3, history = ${entry} WHERE id = $1`, [deliveryId, attempts, error]);
    return this.schedule({ deliveryId }, attempts, rule);
  }

  /**
   * Discards a dead letter: it is kept (listed with state `discarded`) and never retried again. Undefined if
   * there is no dead letter with that id, 'busy' if it is being retried right now.
   */
  async discard(id: string, reason: string): Promise<'discarded' | 'busy' | undefined> {
    // An UPDATE answers [rows, count] through TypeORM.
    const [rows]: [unknown[], number] = await this.dataSource.query(
      `UPDATE event_deliveries SET status = 'discarded', updated_at = now(),
              history = ${appendHistory('history', 'discarded', "'reason', $2::text, 'by', 'operator'")}
        WHERE id = $1 AND status = 'dead' AND claimed_until <= now()
       RETURNING id`,
      [id, reason],
    );
    if (rows.length > 0) return 'discarded';
    return (await this.deliveries.existsBy({ id, status: 'dead' })) ? 'busy' : undefined;
  }

  /** How many dead letters match the filter. */
  async countDead(filter: DeadLetterFilter): Promise<number> {
    const [sql, params] = filterSql(filter, 1);
    const [row]: { n: number }[] = await this.dataSource.query(
      `SELECT count(*)::int AS n FROM event_deliveries d JOIN outbox o ON o.id = d.outbox_id WHERE d.status = 'dead' ${sql}`,
      params,
    );
    return row.n;
  }

  /**
   * Leases up to `limit` dead letters that match the filter, with ids above `afterId` (a bulk retry walks
   * them in id order, so one that fails again is not taken twice in one pass). Those being retried by
   * someone else are skipped.
   */
  async claimDeadBatch(filter: DeadLetterFilter, afterId: string, limit: number, leaseMs: number): Promise<DeliveryRow[]> {
    const [sql, params] = filterSql(filter, 4);
    return this.dataSource.query(
      `WITH claimed AS (
         UPDATE event_deliveries SET claimed_until = now() + make_interval(secs => $1::double precision / 1000)
          WHERE id IN (SELECT d.id FROM event_deliveries d JOIN outbox o ON o.id = d.outbox_id
                        WHERE d.status = 'dead' AND d.claimed_until <= now() AND d.id > $2::bigint ${sql}
                        ORDER BY d.id LIMIT $3 FOR UPDATE OF d SKIP LOCKED)
         RETURNING id, outbox_id, handler, attempts)
       SELECT c.id AS delivery_id, c.handler, c.attempts, o.id, o.event_id, o.name, o.payload, o.request_id, o.traceparent
         FROM claimed c JOIN outbox o ON o.id = c.outbox_id ORDER BY c.id`,
      [leaseMs, afterId, limit, ...params],
    );
  }

  /** Dead letters (or those discarded, or delivered by an operator), newest first. */
  async deadLetters(limit: number, offset: number, state: DeadLetterState = 'dead'): Promise<{ items: DeadLetter[]; total: number }> {
    const [rows, total] = await this.letters(state)
      .orderBy('d.updatedAt', 'DESC')
      .addOrderBy('d.id', 'DESC')
      .limit(limit) // not take/skip: a many-to-one join adds no rows, so no two-step paging is needed
      .offset(offset)
      .getManyAndCount();
    return { items: rows.map(deadLetter), total };
  }

  /** One dead letter (in any of its states), or undefined if there is none with that id. */
  async deadLetter(id: string): Promise<DeadLetterDetail | undefined> {
    const found = await this.letters().andWhere('d.id = :id', { id }).getOne();
    return found ? { ...deadLetter(found), history: found.history } : undefined;
  }

  /** Dead letters with their event, in one statement (`find` with relations would take two). */
  private letters(state?: DeadLetterState): SelectQueryBuilder<EventDeliveryEntity> {
    const query = this.deliveries.createQueryBuilder('d').innerJoinAndSelect('d.outbox', 'o');
    return state ? query.where('d.status = :state', { state }) : query.where("d.status <> 'retrying'");
  }

  /**
   * Deletes dispatched events older than the retention that no failed delivery still needs, and the
   * e-mail keys as old, in batches (short transactions) until none is left or `maxBatches` ran, so that
   * pruning keeps up with a busy service.
   */
  async prune(retentionMs: number, batch = 10_000, maxBatches = 100): Promise<number> {
    let total = 0;
    for (let i = 0; i < maxBatches; i++) {
      const [, count]: [unknown, number] = await this.dataSource.query(
        `DELETE FROM outbox WHERE id IN (
           SELECT o.id FROM outbox o
            WHERE o.dispatched_at < now() - make_interval(secs => $1::double precision / 1000)
              AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.outbox_id = o.id)
            LIMIT $2)`,
        [retentionMs, batch],
      );
      total += count;
      if (count < batch) break;
    }
    // An event redelivered after this long is no longer expected; its e-mail key can go.
    await this.dataSource.query(
      `DELETE FROM sent_notifications WHERE sent_at < now() - make_interval(secs => $1::double precision / 1000)`,
      [retentionMs],
    );
    return total;
  }

  async stats(): Promise<{ pending: number; oldestAgeSeconds: number; retrying: number; dead: number }> {
    const [row] = await this.dataSource.query(
      `SELECT (SELECT count(*)::int FROM outbox WHERE dispatched_at IS NULL) AS pending,
              (SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float FROM outbox WHERE dispatched_at IS NULL) AS oldest,
              (SELECT count(*)::int FROM event_deliveries WHERE status = 'retrying') AS retrying,
              (SELECT count(*)::int FROM event_deliveries WHERE status = 'dead') AS dead`,
    );
    return { pending: row.pending, oldestAgeSeconds: row.oldest, retrying: row.retrying, dead: row.dead };
  }
}

/** The filter's conditions (on deliveries `d` joined to their events `o`), numbered from `$first`. */
function filterSql(filter: DeadLetterFilter, first: number): [string, unknown[]] {
  const conditions: string[] = [];
  const params: unknown[] = [];
  const add = (condition: (placeholder: string) => string, value: unknown) => {
    params.push(value);
    conditions.push(`AND ${condition(`$${first + params.length - 1}`)}`);
  };
  if (filter.handler !== undefined) add((p) => `d.handler = ${p}::varchar`, filter.handler);
  if (filter.event !== undefined) add((p) => `o.name = ${p}::varchar`, filter.event);
  if (filter.since !== undefined) add((p) => `d.updated_at >= ${p}::timestamptz`, filter.since);
  if (filter.until !== undefined) add((p) => `d.updated_at < ${p}::timestamptz`, filter.until);
  return [conditions.join(' '), params];
}
