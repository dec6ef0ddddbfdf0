import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { StoredEvent } from '../messaging/event.js';
import { OUTBOX_PARAMETERS, outboxInsert, OutboxRows, OutboxStore } from '../messaging/outbox.store.js';
import { currentTraceparent } from '../tracing/trace-context.js';
import { StreamEntryReceived } from './stream-entry-received.js';

/** `<ms>-<seq>` as two numbers, which compare in stream order. */
export function entryIdParts(entryId: string): [string, string] {
  const match = /^(\d+)-(\d+)$/.exec(entryId);
  if (!match) throw new Error(`not a stream entry id: ${entryId}`);
  return [match[1], match[2]];
}

export type Received =
  | { outcome: 'stored'; stored: StoredEvent[] }
  /** An entry as new or newer for the same key was received before: this one is never applied. */
  | { outcome: 'superseded' }
  /** This very entry was stored before (it was delivered again: its acknowledgement had not reached Redis). */
  | { outcome: 'duplicate' };

/**
 * Inbound stream entries into the outbox (as an inbox), each with the newest entry received per key
 * (stream_latest_entries), in one statement: an entry is stored only if it is newer than every entry
 * received before for its key, so an entry claimed late from a dead consumer never overwrites a newer one.
 */
@Injectable()
export class StreamInbox {
  constructor(
    private readonly dataSource: DataSource,
    private readonly outbox: OutboxStore,
  ) {}

  /**
   * Stores the entry in the inbox. `key` is what orders entries (the batch); an entry without one (it is
   * malformed) is stored as it is, to become a dead letter.
   */
  async receive(entry: StreamEntryReceived, key: string | undefined, leaseMs: number): Promise<Received> {
    // Its deliveries join the trace under way: the entry's receipt, which continues its producer's trace.
    const origin = { traceparent: currentTraceparent() };
    if (key === undefined) return { outcome: 'stored', stored: await this.outbox.append([entry], origin, leaseMs) };
    const rows = new OutboxRows([entry], origin);
    const [ms, seq] = entryIdParts(entry.entryId);
    // `previous` sees the table as it was before this statement: it tells a duplicate from a stale entry.
    const [result]: { id: string | null; newer: boolean | null }[] = await this.dataSource.query(
      `WITH previous AS (
         SELECT (entry_ms, entry_seq) > ($11::bigint, $12::bigint) AS newer FROM stream_latest_entries WHERE stream = $9 AND key = $10),
       latest AS (
         INSERT INTO stream_latest_entries AS l (stream, key, entry_ms, entry_seq, data) VALUES ($9, $10, $11, $12, $13)
         ON CONFLICT (stream, key) DO UPDATE
           SET entry_ms = EXCLUDED.entry_ms, entry_seq = EXCLUDED.entry_seq, data = EXCLUDED.data, updated_at = now()
           WHERE (l.entry_ms, l.entry_seq) < (EXCLUDED.entry_ms, EXCLUDED.entry_seq)
         RETURNING 1),
       inserted AS (
         ${outboxInsert(OUTBOX_PARAMETERS, 'EXISTS (SELECT 1 FROM latest)')})
       SELECT (SELECT id FROM inserted) AS id, (SELECT newer FROM previous) AS newer`,
      rows.values(leaseMs, entry.stream, key, ms, seq, entry.data),
    );
    if (result.id !== null) return { outcome: 'stored', stored: rows.stored([result.id]) };
    return { outcome: result.newer ? 'superseded' : 'duplicate' };
  }

  /** The newest entry received for a key: its id and its data. */
  async latest(stream: string, key: string): Promise<{ entryId: string; data: string } | undefined> {
    const [row]: { entry_id: string; data: string }[] = await this.dataSource.query(
      `SELECT entry_ms || '-' || entry_seq AS entry_id, data FROM stream_latest_entries WHERE stream = $1 AND key = $2`,
      [stream, key],
    );
    return row ? { entryId: row.entry_id, data: row.data } : undefined;
  }
}
