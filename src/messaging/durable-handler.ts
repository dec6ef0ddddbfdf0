import type { DomainEvent } from '../allocation/domain/index.js';

/**
 * An event handler (or saga step) whose deliveries are tracked: `handlerName` is stable across releases,
 * because failed deliveries are stored under it and retried by it, possibly by another instance.
 */
export interface DurableHandler<E extends DomainEvent = DomainEvent> {
  readonly handlerName: string;
  /**
   * A projection may also be applied inside the command's own write, so that what the API reads is
   * current as soon as the command answers: it returns that SQL statement (run as a CTE; `param` binds a
   * value, `gate` is a condition the statement must honour), or undefined for events it applies later.
   * A delivery of an event already applied that way is then a no-op.
   */
  inTransaction?(event: E, param: (value: unknown) => string, gate?: string): string | undefined;
  /** Must be idempotent: an event may be delivered more than once. */
  deliver(event: E): Promise<void>;
}
