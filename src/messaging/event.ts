/**
 * What messaging knows of an event: the name of its type (stored in the outbox) and its data. The event
 * classes themselves belong to the modules above (allocation, external-events); messaging imports none.
 */
export interface Event {
  readonly name: string;
}

/** An event class, as @EventsHandler names it and as the outbox rebuilds instances of it. */
export type EventClass<E extends Event = Event> = new (...args: never[]) => E;

/** The work that recorded an event: its request id, and its trace context (W3C traceparent) when traced. */
export interface Origin {
  readonly requestId?: string;
  readonly traceparent?: string;
}

/** Where a stored event came from: its outbox row, its id (handlers key their idempotency on it), its origin. */
export interface Envelope extends Origin {
  readonly outboxId: string;
  readonly eventId: string;
}

/** An event as committed to the outbox: the fact and its envelope, side by side. */
export interface StoredEvent<E extends Event = Event> {
  readonly event: E;
  readonly envelope: Envelope;
}

/** How one delivery of an event to one handler ended. */
export type DeliveryResult =
  /** The handler succeeded. */
  | 'delivered'
  /** It failed, and the failure is stored: the relay retries it, or it is a dead letter. */
  | 'recorded'
  /** It failed and the failure could not be stored: the event stays undispatched for the relay. */
  | 'unrecorded';

/**
 * What travels on the EventBus: a copy of the event, an instance of the event's own class (the bus finds
 * handlers by class), that also carries its envelope and the tally its handlers report their results to.
 * A handler's `handle(event)` receives exactly this, and nothing travels beside it.
 */
export type Delivered<E extends Event = Event> = E & { readonly envelope: Envelope; readonly tally: Tally };

export function delivered<E extends Event>({ event, envelope }: StoredEvent<E>, handlers: readonly string[]): Delivered<E> {
  const copy = Object.create(Object.getPrototypeOf(event) as object) as E;
  return Object.assign(copy, event, { envelope, tally: new Tally(handlers) });
}

/** The results of one event's handlers; `all` resolves once every expected handler has reported. */
export class Tally {
  private readonly results = new Map<string, DeliveryResult>();
  private resolve!: (results: DeliveryResult[]) => void;
  readonly all = new Promise<DeliveryResult[]>((resolve) => (this.resolve = resolve));

  constructor(private readonly expected: readonly string[]) {
    this.settleIfDone();
  }

  report(handler: string, result: DeliveryResult): void {
    if (!this.expected.includes(handler)) return;
    this.results.set(handler, result);
    this.settleIfDone();
  }

  private settleIfDone(): void {
    if (this.results.size === this.expected.length) this.resolve([...this.results.values()]);
  }
}
