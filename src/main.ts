import 'reflect-metadata';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Logger } from '@nestjs/common';
import { createApp, createLogger } from './app.js';
import { ConfigError, loadConfig } from './config/config.js';
import { startEmbeddedPostgres, type RunningPostgres } from './database/embedded-postgres.js';

async function main(): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config);
  Logger.overrideLogger(logger);
  const log = new Logger('Main');

  let embedded: RunningPostgres | undefined;
  if (!config.databaseUrl) {
    const pgLog = new Logger('EmbeddedPostgres');
    embedded = await startEmbeddedPostgres({
      dataDir: path.resolve('.data', 'postgres'),
      log: (line) => pgLog.debug?.(line),
    });
    config = { ...config, databaseUrl: embedded.url };
    log.log(`embedded PostgreSQL on port ${embedded.port} (data in ${embedded.dataDir})`);
  }

  let app;
  try {
    app = await createApp(config, logger);
    await app.listen(config.port);
  } catch (error) {
    log.error(`could not start: ${(error as Error).message}`, (error as Error).stack);
    await app?.close().catch(() => undefined);
    await embedded?.stop();
    process.exit(1);
  }
  log.log(`listening on http://localhost:${config.port} (Swagger UI at /docs)`);

  // Stop taking requests, let in-flight ones finish, close the pool, then stop the embedded database.
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.log(`${signal}: shutting down`);
    const force = setTimeout(() => {
      log.error('shutdown took over 30 s; exiting');
      process.exit(1);
    }, 30_000);
    force.unref();
    try {
      await app.close();
      await embedded?.stop();
      process.exit(0);
    } catch (error) {
      log.error(`shutdown failed: ${(error as Error).message}`);
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

void main();
