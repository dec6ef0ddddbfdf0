import { Allocated, Deallocated, type DomainEvent, OutOfStock } from '../allocation/domain/index.js';
import { ExternalMessageReceived } from '../external-events/external-message-received.js';

/**
 * Events as stored in the outbox, and back. The EventBus finds handlers by the event's class, so an event
 * read from the database must be rebuilt as an instance of its class, not left a plain object.
 */
const decoders: Record<string, (p: Record<string, unknown>) => DomainEvent> = {
  Allocated: (p) => new Allocated(String(p.orderid), String(p.sku), Number(p.qty), String(p.batchref)),
  Deallocated: (p) => new Deallocated(String(p.orderid), String(p.sku), Number(p.qty), String(p.batchref)),
  OutOfStock: (p) => new OutOfStock(String(p.sku)),
  ExternalMessageReceived: (p) => new ExternalMessageReceived(String(p.channel), String(p.data)),
};

export function encodeEvent(event: DomainEvent): { name: string; sku: string | null; payload: Record<string, unknown> } {
  const { name, ...payload } = event as DomainEvent & Record<string, unknown>;
  return { name, sku: typeof payload.sku === 'string' ? payload.sku : null, payload };
}

export function decodeEvent(name: string, payload: Record<string, unknown>): DomainEvent {
  const decode = decoders[name];
  if (!decode) throw new Error(`unknown event type ${name}`);
  return decode(payload);
}

/** Where an event instance came from in the outbox; kept beside the instance, not in the domain. */
export interface Envelope {
  outboxId: string;
  eventId: string;
  requestId?: string;
  /** Handlers whose effect was applied in the transaction that wrote the event. */
  appliedInTransaction?: readonly string[];
}

const envelopes = new WeakMap<object, Envelope>();

export function envelopeOf(event: object): Envelope | undefined {
  return envelopes.get(event);
}

export function attachEnvelope(event: object, envelope: Envelope): void {
  envelopes.set(event, envelope);
}
