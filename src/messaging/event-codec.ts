import type { Envelope, Event, EventClass, StoredEvent } from './event.js';

/** An outbox row as the relay and the admin routes read it. */
export interface OutboxRow {
  id: string;
  event_id: string;
  name: string;
  payload: Record<string, unknown>;
  request_id: string | null;
  traceparent: string | null;
}

/** An event's columns in the outbox: its name, its SKU (rows are distributed by it) and its data. */
export function encodeEvent(event: Event): { name: string; sku: string | null; payload: Record<string, unknown> } {
  const { name, ...payload } = event as Event & Record<string, unknown>;
  return { name, sku: typeof payload.sku === 'string' ? payload.sku : null, payload };
}

/**
 * The event an outbox row holds, rebuilt as an instance of its class (the EventBus finds handlers by class),
 * with its envelope beside it. Events are plain data, so their fields are restored as they were stored (and
 * an event's name is its class's).
 */
export function storedEventFromRow(row: OutboxRow, classOf: (name: string) => EventClass | undefined): StoredEvent {
  const type = classOf(row.name);
  if (!type) throw new Error(`unknown event type ${row.name}`);
  const event = Object.assign(Object.create(type.prototype as object) as Event, row.payload);
  const envelope: Envelope = { outboxId: String(row.id), eventId: row.event_id, requestId: row.request_id ?? undefined, traceparent: row.traceparent ?? undefined };
  return { event, envelope };
}
