/** The service's configuration, read from the environment once at start and validated. */
export interface AppConfig {
  port: number;
  /** Unset: an embedded PostgreSQL is started under `.data/`. */
  databaseUrl?: string;
  databasePoolSize: number;
  smtpUrl?: string;
  smtpFrom: string;
  notifyTo: string;
  adminToken?: string;
  redisUrl?: string;
  /** Prefix of every Redis key, channel and stream (empty: the book's names exactly). */
  redisKeyPrefix: string;
  /** Approximate cap on the entries of each outbound stream (older entries are trimmed). */
  redisStreamMaxlen: number;
  /** How long an inbound stream entry may stay pending with a consumer before another instance claims it. */
  redisClaimIdleMs: number;
  logFormat: 'json' | 'pretty';
  /** Attempts of one command when it keeps losing races on the same product, before a 503. */
  commandMaxAttempts: number;
  /** Attempts of one event handler before its failure is given up on (and kept where it can be seen). */
  eventHandlerMaxAttempts: number;
  /** First back-off delay between event-handler attempts; it doubles (with jitter) each time. */
  eventHandlerBackoffMs: number;
  /** Longest back-off delay between event-handler attempts. */
  eventHandlerBackoffMaxMs: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Event deliveries (handlers, saga steps) run at once by one instance; the rest wait their turn. */
  eventDeliveryConcurrency: number;
  /** How often the outbox relay looks for undispatched events and due retries. */
  outboxPollMs: number;
  /** How long a dispatcher holds an event or a delivery before another instance may take it over. */
  outboxLeaseMs: number;
  /** How long dispatched events are kept before they are pruned. */
  outboxRetentionMs: number;
  outboxPruneIntervalMs: number;
  /** Longest wait for a request's headers, and for the whole request (a client that drips them is cut off). */
  httpHeadersTimeoutMs: number;
  httpRequestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open. */
  httpKeepAliveTimeoutMs: number;
  /** Connections beyond this are refused. */
  httpMaxConnections: number;
  /** At shutdown, how long requests under way may take to finish before their connections are closed. */
  shutdownGraceMs: number;
}

export const APP_CONFIG = Symbol('APP_CONFIG');

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): AppConfig {
  const problems: string[] = [];
  const value = (key: string) => {
    const v = env[key]?.trim();
    return v === '' ? undefined : v;
  };
  const integer = (key: string, fallback: number, min: number, max: number): number => {
    const raw = value(key);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < min || n > max) {
      problems.push(`${key} must be an integer from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return n;
  };
  const url = (key: string, protocols: string[]): string | undefined => {
    const raw = value(key);
    if (raw === undefined) return undefined;
    try {
      const parsed = new URL(raw);
      if (!protocols.includes(parsed.protocol)) throw new Error();
      if (!parsed.hostname) throw new Error();
      return raw;
    } catch {
      problems.push(`${key} must be a URL of the form ${protocols[0]}//host:port/... (got "${redact(raw)}")`);
      return undefined;
    }
  };
  const logLevel = value('LOG_LEVEL') ?? 'info';
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  if (!levels.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${levels.join(', ')} (got "${logLevel}")`);
  const logFormat = value('LOG_FORMAT') ?? 'json';
  if (logFormat !== 'json' && logFormat !== 'pretty') problems.push(`LOG_FORMAT must be "json" or "pretty" (got "${logFormat}")`);

  const config: AppConfig = {
    port: integer('PORT', 3000, 1, 65535),
    databaseUrl: url('DATABASE_URL', ['postgres:', 'postgresql:']),
    databasePoolSize: integer('DATABASE_POOL_SIZE', 10, 1, 1000),
    smtpUrl: url('SMTP_URL', ['smtp:', 'smtps:']),
    smtpFrom: value('SMTP_FROM') ?? 'allocation-service@localhost',
    notifyTo: value('NOTIFY_TO') ?? 'buying-team@localhost',
    adminToken: value('ADMIN_TOKEN'),
    redisUrl: url('REDIS_URL', ['redis:', 'rediss:']),
    redisKeyPrefix: value('REDIS_KEY_PREFIX') ?? '',
    redisStreamMaxlen: integer('REDIS_STREAM_MAXLEN', 1_000_000, 1, 2 ** 53 - 1),
    redisClaimIdleMs: integer('REDIS_CLAIM_IDLE_MS', 30_000, 10, 86_400_000),
    logFormat: logFormat === 'pretty' ? 'pretty' : 'json',
    commandMaxAttempts: integer('COMMAND_MAX_ATTEMPTS', 10, 1, 100),
    eventHandlerMaxAttempts: integer('EVENT_HANDLER_MAX_ATTEMPTS', 5, 1, 100),
    eventHandlerBackoffMs: integer('EVENT_HANDLER_BACKOFF_MS', 1000, 1, 3_600_000),
    eventHandlerBackoffMaxMs: integer('EVENT_HANDLER_BACKOFF_MAX_MS', 300_000, 1, 86_400_000),
    logLevel: (levels.includes(logLevel) ? logLevel : 'info') as AppConfig['logLevel'],
    eventDeliveryConcurrency: integer('EVENT_DELIVERY_CONCURRENCY', 4, 1, 1000),
    outboxPollMs: integer('OUTBOX_POLL_MS', 1000, 10, 3_600_000),
    outboxLeaseMs: integer('OUTBOX_LEASE_MS', 30_000, 100, 3_600_000),
    outboxRetentionMs: integer('OUTBOX_RETENTION_HOURS', 24, 0, 24 * 365) * 3_600_000,
    outboxPruneIntervalMs: integer('OUTBOX_PRUNE_INTERVAL_MS', 60_000, 10, 86_400_000),
    httpHeadersTimeoutMs: integer('HTTP_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000),
    httpRequestTimeoutMs: integer('HTTP_REQUEST_TIMEOUT_MS', 30_000, 100, 3_600_000),
    httpKeepAliveTimeoutMs: integer('HTTP_KEEP_ALIVE_TIMEOUT_MS', 5_000, 100, 600_000),
    httpMaxConnections: integer('HTTP_MAX_CONNECTIONS', 1024, 1, 1_000_000),
    shutdownGraceMs: integer('SHUTDOWN_GRACE_MS', 10_000, 0, 600_000),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Hides a password in a URL before it is printed. */
function redact(raw: string): string {
  return raw.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
