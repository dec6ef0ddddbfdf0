import type { NextFunction, Request, Response } from 'express';
import { Histogram, register } from 'prom-client';
import { onAnswered, routeTemplate } from '../logging/request-log.js';

// Process-wide, created once (several apps may run in one test process).
const duration =
  (register.getSingleMetric('http_request_duration_seconds') as Histogram<string> | undefined) ??
  new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP requests by method, route template (e.g. /allocations/:orderid; "none" when refused before routing) and status ("aborted": the client hung up first)',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });

/**
 * Times every request into the histogram when its answer is sent. The route is Express's matched template,
 * never the raw path: ids in paths would make a series per order.
 */
export function httpMetrics(req: Request, res: Response, next: NextFunction): void {
  const stop = duration.startTimer();
  // A client that hung up before its answer is counted too, as status "aborted".
  onAnswered(res, (aborted) => stop({ method: req.method, route: routeTemplate(req) ?? 'none', status: aborted ? 'aborted' : String(res.statusCode) }));
  next();
}
