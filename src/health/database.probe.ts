import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import pg from 'pg';
import { APP_CONFIG, type AppConfig } from '../config/config.js';

/** Longest a health check waits on the database (the contract's bound). */
export const DATABASE_CHECK_TIMEOUT_MS = 1000;

/**
 * The health check's own connection to the database (a pool of one), apart from the request pool: when
 * requests hold every pooled connection (waiting on a lock, say), the database still answers here.
 * A broken or timed-out connection is dropped by the pool and a new one is opened at the next check.
 */
@Injectable()
export class DatabaseProbe implements OnApplicationShutdown {
  private readonly pool: pg.Pool;
  private inFlight: Promise<void> | undefined;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.pool = new pg.Pool({
      connectionString: config.databaseUrl,
      max: 1,
      idleTimeoutMillis: 0, // kept open: a check must not depend on a free connection slot on the server
      connectionTimeoutMillis: DATABASE_CHECK_TIMEOUT_MS,
      query_timeout: DATABASE_CHECK_TIMEOUT_MS,
      options: `-c statement_timeout=${DATABASE_CHECK_TIMEOUT_MS}`,
      application_name: 'allocation-service-health',
      keepAlive: true,
    });
    // An idle connection the server closes must not crash the process; the next check reconnects.
    this.pool.on('error', () => undefined);
  }

  /** Resolves when the database answers `SELECT 1`; concurrent checks share one query. */
  ping(): Promise<void> {
    this.inFlight ??= this.pool
      .query('SELECT 1')
      .then(() => undefined)
      .finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
  }
}
