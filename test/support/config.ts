import { type AppConfig, loadConfig } from '../../src/config/config.js';

/** The configuration tests run with: the run's database, fast event retries, quiet logs. */
export function testConfig(env: Record<string, string | undefined> = {}): AppConfig {
  return loadConfig({
    DATABASE_URL: process.env.DATABASE_URL,
    EVENT_HANDLER_BACKOFF_MS: '5',
    EVENT_HANDLER_MAX_ATTEMPTS: '3',
    DATABASE_POOL_SIZE: '20',
    LOG_LEVEL: process.env.TEST_LOGS ? 'info' : 'silent',
    OUTBOX_POLL_MS: '100',
    ...env,
  });
}

let counter = 0;
/** A value no other test (or earlier run on the same database) uses. */
export function unique(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}
