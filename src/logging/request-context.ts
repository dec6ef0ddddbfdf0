import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The request id of the work under way: set for each HTTP request (from `X-Request-Id` or new), stored with
 * the events a command records, and restored when those events are handled, even by another instance later.
 * Every log line written meanwhile carries it.
 */
const storage = new AsyncLocalStorage<{ requestId?: string }>();

export function currentRequestId(): string | undefined {
  return storage.getStore()?.requestId;
}

export function withRequestId<T>(requestId: string | undefined, fn: () => T): T {
  return storage.run({ requestId }, fn);
}
