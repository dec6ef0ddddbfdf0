/** How PostgreSQL and connection errors are classified: a lost race is retried, an outage is a 503. */

const CONFLICT_CODES = new Set([
  '40001', // serialization_failure; also a product's version check failing (allocation_versions_checked)
  '40P01', // deadlock_detected
  '23505', // unique_violation: two commands created the same product or batch at once
  '55P03', // lock_not_available: lock_timeout expired waiting for the product row
  '57014', // query_canceled: statement_timeout, a statement held up behind locks or load
]);

/**
 * The database cannot serve us now, but may shortly: shutting down or starting up (57P0x), out of
 * connections or resources (53xxx), connections refused (55000 with allow_connections off), the database
 * missing or our credentials refused (3D000, 28xxx: an operator's fix, not the client's fault), or the
 * connection lost (08xxx, except 08P01, a protocol violation, which is a bug to see as a 500).
 */
const UNAVAILABLE_CODES = new Set(['57P01', '57P02', '57P03', '53000', '53100', '53200', '53300', '53400', '3D000', '28000', '28P01']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'EAI_AGAIN']);

function codeOf(error: unknown): string | undefined {
  const e = error as { code?: unknown; driverError?: { code?: unknown } };
  const code = e?.code ?? e?.driverError?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * An error that one line's data may cause (a data exception, a constraint other than a duplicate key, or
 * an error of our own code, which has no SQLSTATE): worth trying the other lines without that one.
 */
export function mayBeCausedByOneLine(error: unknown): boolean {
  const code = codeOf(error);
  if (code === undefined) return !(error instanceof TemporarilyUnavailable);
  return code.startsWith('22') || (code.startsWith('23') && code !== '23505');
}

export function isConflict(error: unknown): boolean {
  const code = codeOf(error);
  return code !== undefined && CONFLICT_CODES.has(code);
}

/** Every pooled connection stayed busy for the whole connection timeout: we are overloaded, not down. */
export function isPoolExhausted(error: unknown): boolean {
  return /timeout exceeded when trying to connect/i.test((error as Error)?.message ?? '');
}

export function isDatabaseUnavailable(error: unknown): boolean {
  const code = codeOf(error);
  if (code === '08P01') return false;
  if (code && (UNAVAILABLE_CODES.has(code) || NETWORK_CODES.has(code) || code.startsWith('08'))) return true;
  const message = (error as Error)?.message ?? '';
  if (code === '55000') return /not currently accepting connections/i.test(message);
  return /Connection terminated|Client has encountered a connection error|connect ECONNREFUSED/i.test(message);
}

/** The service cannot answer now but may shortly: a 503 with Retry-After. */
export class TemporarilyUnavailable extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds = 1,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TemporarilyUnavailable';
  }
}

/** Seconds a client should wait before trying again after each kind of 503. */
export const RETRY_AFTER = { contention: 1, busy: 1, outage: 5 };

/** The 503 an error of the database layer means, if it means one (else undefined: a bug, a 500). */
export function asTemporarilyUnavailable(error: unknown): TemporarilyUnavailable | undefined {
  if (error instanceof TemporarilyUnavailable) return error;
  if (isConflict(error)) return new TemporarilyUnavailable('Too much contention on this product; try again', RETRY_AFTER.contention, { cause: error });
  if (isPoolExhausted(error)) return new TemporarilyUnavailable('The service is busy; try again shortly', RETRY_AFTER.busy, { cause: error });
  if (isDatabaseUnavailable(error)) return new TemporarilyUnavailable('The database is unavailable; try again later', RETRY_AFTER.outage, { cause: error });
  return undefined;
}
