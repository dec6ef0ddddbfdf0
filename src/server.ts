import 'reflect-metadata';
import type { Server } from 'node:http';
import path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { createApp } from './app.js';
import { type AppConfig, ConfigError, loadConfig } from './config/config.js';
import { startEmbeddedPostgres, type RunningPostgres } from './database/embedded-postgres.js';
import { closeHttpServer } from './http/http-server.js';
import { createRootLogger } from './logging/logger.js';
import { settledWithin } from './shutdown.js';
import type { Tracing } from './tracing/tracing.js';

function readConfig(): AppConfig {
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

/** The service: embedded PostgreSQL unless DATABASE_URL is set, the application, and an orderly shutdown. */
export async function serve(tracing: Tracing | undefined): Promise<void> {
  let config = readConfig();
  const logger = createRootLogger(config);
  const log = logger.child({ context: 'Main' });

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
    app = await createApp(config, logger);
    await app.listen(config.port);
  } catch (error) {
    log.fatal({ err: error }, `could not start: ${(error as Error).message}`);
    await app?.close().catch(() => undefined);
    await embedded?.stop();
    await flushTraces(tracing, log);
    process.exit(1);
  }
  log.info(`listening on http://localhost:${config.port} (Swagger UI at /docs)`);

  // In order: stop accepting, let in-flight requests finish (bounded), drain events and close the pool
  // (app.close), then stop the embedded database, which runs in a process group of its own so that a
  // Ctrl-C reaching the whole terminal group does not stop it under the requests still running.
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const started = Date.now();
    log.info(`${signal}: shutting down`);
    const force = setTimeout(() => {
      log.error('shutdown took over 30 s; exiting');
      process.exit(1);
    }, 30_000);
    force.unref();
    try {
      await closeHttpServer(app!.getHttpServer() as Server, config.shutdownGraceMs);
      await app!.close();
      await embedded?.stop();
      await flushTraces(tracing, log);
      log.info(`stopped after ${Date.now() - started} ms`);
      process.exit(0);
    } catch (error) {
      log.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

/** Sends the last spans, waiting at most 5 s: a collector that does not answer must not hold up a stop. */
async function flushTraces(tracing: Tracing | undefined, log: { warn(message: string): void }): Promise<void> {
  if (!tracing) return;
  let problem: string | undefined;
  const flushed = tracing.shutdown().catch((error: Error) => void (problem = error.message));
  if (!(await settledWithin(flushed, 5000))) problem = 'no answer from the collector in 5 s';
  if (problem) log.warn(`tracing: the last spans may be lost (${problem})`);
}
