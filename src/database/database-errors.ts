/** How PostgreSQL and connection errors are classified: a lost race is retried, an outage is a 503. */

const CONFLICT_CODES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '23505', // unique_violation: two commands created the same product or batch at once
  '55P03', // lock_not_available: lock_timeout expired waiting for the product row
]);

const UNAVAILABLE_CODES = new Set(['57P01', '57P02', '57P03', '53300', '53400']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'EAI_AGAIN']);

function codeOf(error: unknown): string | undefined {
  const e = error as { code?: unknown; driverError?: { code?: unknown } };
  const code = e?.code ?? e?.driverError?.code;
  return typeof code === 'string' ? code : undefined;
}

export function isConflict(error: unknown): boolean {
  if ((error as Error)?.name === 'ConcurrencyConflict') return true;
  const code = codeOf(error);
  return code !== undefined && CONFLICT_CODES.has(code);
}

export function isDatabaseUnavailable(error: unknown): boolean {
  const code = codeOf(error);
  if (code && (UNAVAILABLE_CODES.has(code) || NETWORK_CODES.has(code) || code.startsWith('08'))) return true;
  const message = (error as Error)?.message ?? '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connect ECONNREFUSED/i.test(
    message,
  );
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
