import { DomainEvent } from '../allocation/domain/events.js';

/**
 * An entry of an inbound Redis stream, as received: stored in the outbox (acting as an inbox) before it
 * is acknowledged, then applied by its consumer like any event handler's work (retried, dead-lettered).
 */
export class StreamEntryReceived extends DomainEvent {
  constructor(
    /** The stream's name in code (without REDIS_KEY_PREFIX). */
    readonly stream: string,
    /** The entry's id on the stream, `<ms>-<seq>`. */
    readonly entryId: string,
    /** The entry's `data` field as it arrived (it may not even be JSON), made storable (see `unreadable`). */
    readonly data: string,
    /** Why the entry can never be applied, when it is known on arrival (its data had NUL or unpaired surrogates). */
    readonly unreadable?: string,
  ) {
    super();
  }
}
