import { Socket } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import type { Logger } from '../../src/logging/logger.js';
import { testConfig } from './config.js';

export interface TestApp {
  app: INestApplication;
  http: ReturnType<typeof request>;
  close(): Promise<void>;
}

/** The whole application on the run's database, with fast event retries and no logs (unless given a logger). */
export async function startTestApp(env: Record<string, string | undefined> = {}, logger?: Logger): Promise<TestApp> {
  const app = await createApp(testConfig(env), logger);
  const server = app.getHttpServer();
  return { app, http: request(server), close: () => closeWatched(app) };
}

/** Closes the app; a close that takes long says what is still open, so that a hung teardown can be told apart. */
async function closeWatched(app: INestApplication): Promise<void> {
  const pending = watchShutdownHooks(app);
  const watchdog = setTimeout(() => {
    process.stderr.write(`app.close() still running after 10 s; shutdown hooks not done: ${[...pending].join(', ') || 'none'}\n`);
    // Which sockets are still open says which part holds the close up (the pool's port, Redis's, an HTTP client's).
    const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
    const sockets = handles.filter((h): h is Socket => h instanceof Socket).map((s) => `${s.localPort}->${s.remotePort}`);
    process.stderr.write(`app.close() still running after 10 s; open: ${JSON.stringify(process.getActiveResourcesInfo())}; sockets: ${sockets.join(' ')}\n`);
  }, 10_000);
  watchdog.unref();
  try {
    await app.close();
  } finally {
    clearTimeout(watchdog);
  }
}

const HOOKS = ['onModuleDestroy', 'beforeApplicationShutdown', 'onApplicationShutdown'] as const;

/** Wraps every provider's shutdown hooks to keep the names of those under way (Class.hook). */
function watchShutdownHooks(app: INestApplication): Set<string> {
  const pending = new Set<string>();
  const modules = (app as unknown as { container: { getModules(): Map<string, { providers: Map<unknown, { instance: unknown }> }> } }).container.getModules();
  for (const module of modules.values()) {
    for (const { instance } of module.providers.values()) {
      if (!instance || typeof instance !== 'object') continue;
      const target = instance as Record<string, unknown>;
      for (const hook of HOOKS) {
        const original = target[hook];
        if (typeof original !== 'function') continue;
        const name = `${instance.constructor.name}.${hook}`;
        target[hook] = async (...args: unknown[]) => {
          pending.add(name);
          try {
            return await (original as (...a: unknown[]) => unknown).apply(instance, args);
          } finally {
            pending.delete(name);
          }
        };
      }
    }
  }
  return pending;
}

/**
 * Polls `check` until it stops throwing (for effects of events, which run after the answer). The timeout
 * only bounds a failure; it is generous because these machines are noisy.
 */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}
