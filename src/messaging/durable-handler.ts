import type { DomainEvent } from '../allocation/domain/index.js';

/**
 * An event handler (or saga step) whose deliveries are tracked: `handlerName` is stable across releases,
 * because failed deliveries are stored under it and retried by it, possibly by another instance.
 */
export interface DurableHandler<E extends DomainEvent = DomainEvent> {
  readonly handlerName: string;
  /** True for projections the API reads: a command's answer waits for them (read your writes). */
  readonly servesReads?: boolean;
  /** Must be idempotent: an event may be delivered more than once. */
  deliver(event: E): Promise<void>;
}
