import 'reflect-metadata';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { pino } from 'pino';
import pretty from 'pino-pretty';
import { createApp } from './app.js';
import { type AppConfig, ConfigError, loadConfig } from './config/config.js';
import { startEmbeddedPostgres, type RunningPostgres } from './database/embedded-postgres.js';

function readConfig(): AppConfig {
  if (existsSync('.env')) process.loadEnvFile('.env');
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}

async function main(): Promise<void> {
  let config = readConfig();
  // Lines written before the Nest app (and its logger) exist, in the same format.
  const log = pino({ level: config.logLevel, base: { context: 'Main' } }, config.logFormat === 'pretty' ? pretty({ sync: true }) : undefined);

  let embedded: RunningPostgres | undefined;
  let app: INestApplication | undefined;
  try {
    if (!config.databaseUrl) {
      embedded = await startEmbeddedPostgres({
        dataDir: path.resolve('.data', 'postgres'),
        log: (line) => log.debug({ context: 'EmbeddedPostgres' }, line),
      });
      config = { ...config, databaseUrl: embedded.url };
      log.info(`embedded PostgreSQL on port ${embedded.port} (data in ${embedded.dataDir})`);
    }
    app = await createApp(config);
    await app.listen(config.port);
  } catch (error) {
    log.fatal({ err: error }, `could not start: ${(error as Error).message}`);
    await app?.close().catch(() => undefined);
    await embedded?.stop();
    process.exit(1);
  }
  log.info(`listening on http://localhost:${config.port} (Swagger UI at /docs)`);

  // Stop taking requests, let in-flight ones (and their events) finish, close the pool, then the database.
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: shutting down`);
    const force = setTimeout(() => {
      log.error('shutdown took over 30 s; exiting');
      process.exit(1);
    }, 30_000);
    force.unref();
    try {
      await app!.close();
      await embedded?.stop();
      process.exit(0);
    } catch (error) {
      log.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

void main();
