import type { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';
import pretty from 'pino-pretty';
import type { AppConfig } from '../config/config.js';
import { traceFields } from '../tracing/trace-context.js';
import { currentRequestId } from './request-context.js';

export type { Logger };

/**
 * Secrets that must never reach a log line, wherever they hide: headers are not logged at all (see
 * request-log.ts), and every line is scrubbed as it is written, so that a token or a password in a URL
 * inside an error message or a field is caught too.
 */
const SECRETS: [RegExp, string][] = [
  // scheme://user:password@host (DATABASE_URL, SMTP_URL, REDIS_URL)
  [/([a-z][a-z0-9+.-]*:\/\/[^\s:/@"'\\]*):[^\s@/"'\\]*@/gi, '$1:[redacted]@'],
  // Authorization schemes that carry a credential
  [/\b(Bearer|Basic)\s+[^\s"'\\,]+/gi, '$1 [redacted]'],
];

export function scrubSecrets(line: string): string {
  for (const [pattern, replacement] of SECRETS) line = line.replace(pattern, replacement);
  return line;
}

/** Field paths redacted before serialisation, for callers that log headers or cookies anyway. */
const REDACT = ['*.authorization', '*.cookie', '*["set-cookie"]', '*.headers.authorization', '*.headers.cookie', '*.headers["set-cookie"]', 'password'];

/**
 * The service's one logger: every line (Nest's own, ours, one per HTTP request) goes through it, JSON by
 * default, one line per entry with LOG_FORMAT=pretty too, coloured only on a terminal. Lines written under
 * a request or an event delivery carry its request id, and with tracing on its `trace_id` and `span_id`.
 */
export function createRootLogger(config: Pick<AppConfig, 'logLevel' | 'logFormat'>, destination: Writable = process.stdout): Logger {
  const stream =
    config.logFormat === 'pretty'
      ? pretty({
          destination,
          sync: true,
          singleLine: true,
          colorize: (destination as { isTTY?: boolean }).isTTY === true,
          ignore: 'pid,hostname',
          translateTime: 'SYS:HH:MM:ss.l',
        })
      : destination;
  return pino(
    {
      level: config.logLevel,
      redact: { paths: REDACT, censor: '[redacted]' },
      hooks: { streamWrite: scrubSecrets },
      mixin: () => {
        const requestId = currentRequestId();
        return { ...(requestId ? { requestId } : {}), ...traceFields() };
      },
    },
    stream,
  );
}
