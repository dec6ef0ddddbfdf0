import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { withRequestId } from './request-context.js';

const VALID_ID = /^[\w.:-]{1,200}$/;
/** Probes and scrapes would drown the log; they are logged only when they fail. */
const QUIET = /^\/(health|metrics)(\/|$)/;

/** What the error filter learnt about a failed request, for its log line. */
export interface RequestFailure {
  message: unknown;
  error?: unknown;
}

export function recordFailure(res: Response, failure: RequestFailure): void {
  res.locals.failure = failure;
}

/**
 * The first middleware: gives the request its id (from `X-Request-Id`, or new), echoes it, runs the rest of
 * the request under it, and writes one line when the answer is sent: method, route template, path, status,
 * duration, request id, and for a failure its reason. Headers are never logged (they carry credentials).
 * Registered before the body parser, so malformed and oversized bodies are logged like any request.
 */
export function requestLog(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && VALID_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', id);
    const started = process.hrtime.bigint();
    onAnswered(res, (aborted) => logRequest(logger, req, res, id, started, aborted));
    withRequestId(id, next);
  };
}

/** Calls `ended` once: when the answer has been sent, or when the client hung up before it (`aborted`). */
export function onAnswered(res: Response, ended: (aborted: boolean) => void): void {
  res.once('finish', () => ended(false));
  res.once('close', () => {
    if (!res.writableFinished) ended(true);
  });
}

/** The route Express matched, as its template ('/allocations/:orderid', not the raw ids); undefined before routing. */
export function routeTemplate(req: Request): string | undefined {
  const path = (req.route as { path?: string } | undefined)?.path;
  return path === undefined ? undefined : `${req.baseUrl}${path}`;
}

function logRequest(logger: Logger, req: Request, res: Response, requestId: string, started: bigint, aborted: boolean): void {
  const status = res.statusCode;
  const path = req.originalUrl.split('?')[0].slice(0, 200);
  // A client that hangs up is its own business (info); a 503 is a warning, any other 5xx an error.
  const level = aborted ? 'info' : status >= 500 && status !== 503 ? 'error' : status >= 500 ? 'warn' : 'info';
  if (level === 'info' && QUIET.test(path) && status < 400) return;
  if (!logger.isLevelEnabled(level)) return;
  const durationMs = Math.round(Number(process.hrtime.bigint() - started) / 1e4) / 100;
  const route = routeTemplate(req);
  const failure = res.locals.failure as RequestFailure | undefined;
  logger[level](
    {
      requestId,
      method: req.method,
      route,
      path,
      status,
      durationMs,
      ...(aborted ? { aborted: true } : {}),
      ...(failure ? { message: failure.message, ...(failure.error ? { err: failure.error } : {}) } : {}),
    },
    `${req.method} ${route ?? path} ${aborted ? 'aborted' : status} ${durationMs} ms`,
  );
}
