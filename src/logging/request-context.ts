import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

/**
 * The request id of the work under way: set for each HTTP request (from `X-Request-Id` or new), stored with
 * the events a command records, and restored when those events are handled, even by another instance later.
 */
interface RequestContext {
  requestId?: string;
  /** Inside the HTTP request itself, whose pino logger already carries the id. */
  http?: boolean;
}

const storage = new AsyncLocalStorage<RequestContext>();

export function currentRequestId(): string | undefined {
  return storage.getStore()?.requestId;
}

/** The id to add to a log line: none where the request's own logger already binds it. */
export function requestIdForLogs(): string | undefined {
  const store = storage.getStore();
  return store?.http ? undefined : store?.requestId;
}

export function withRequestId<T>(requestId: string | undefined, fn: () => T): T {
  const current = storage.getStore();
  return storage.run({ requestId, http: current?.http === true && current.requestId === requestId }, fn);
}

const VALID_ID = /^[\w.:-]{1,200}$/;

export function requestIdMiddleware(req: Request, res: Response, next: NextFunction): void {
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && VALID_ID.test(given) ? given : randomUUID();
  (req as Request & { id: string }).id = id; // pino-http uses req.id as its request id
  res.setHeader('X-Request-Id', id);
  storage.run({ requestId: id, http: true }, next);
}
