import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe } from '@jest/globals';
import { Redis } from 'ioredis';
import { freePort } from '../../src/database/embedded-postgres.js';

/** The Redis the Redis tests use (`REDIS_URL`; `.ci/run` sets it). Without it those tests are skipped. */
export const redisUrl = process.env.REDIS_URL;

export const describeWithRedis: typeof describe = redisUrl
  ? describe
  : (((name: string, fn: () => void) => {
      console.log(`skipped "${name}": set REDIS_URL (e.g. redis://127.0.0.1:6379) to run the Redis tests`);
      return describe.skip(name, fn);
    }) as typeof describe);

/** A redis-server of the test's own, on a free port, which the test may stop and start again. */
export class OwnRedisServer {
  private process: ChildProcess | undefined;
  constructor(
    readonly port: number,
    /** A folder for an append-only file written before each write is answered: a restart loses nothing. */
    private readonly dataDir?: string,
  ) {}

  static async start(options: { persistent?: boolean } = {}): Promise<OwnRedisServer> {
    const dir = options.persistent ? await mkdtemp(path.join(os.tmpdir(), 'redis-')) : undefined;
    const server = new OwnRedisServer(await freePort(), dir);
    await server.start();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const persistence = this.dataDir ? ['--dir', this.dataDir, '--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
    this.process = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', ...persistence], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const probe = new Redis(this.url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        if ((await probe.ping()) === 'PONG') return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        // Not after a failed connect: disconnecting a closed connection leaves ioredis's 2 s timer behind.
        if (probe.status !== 'end') probe.disconnect();
      }
    }
    await this.stop();
    throw new Error('redis-server did not start');
  }

  /** Freezes the server (SIGSTOP): connections stay open but nothing answers, as with a hung Redis. */
  pause(): void {
    this.process?.kill('SIGSTOP');
  }

  resume(): void {
    this.process?.kill('SIGCONT');
  }

  /** Kills it (SIGKILL) and removes its data. */
  async close(): Promise<void> {
    await this.stop();
    if (this.dataDir) await rm(this.dataDir, { recursive: true, force: true });
  }

  /** Kills it (SIGKILL): what it had written to its append-only file survives for the next start. */
  async stop(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }
}

/** Subscribes to a channel and keeps every message (reconnecting and resubscribing after outages). */
export async function listen(url: string, channel: string): Promise<{ messages: Record<string, unknown>[]; raw: string[]; close(): void }> {
  const client = new Redis(url, { retryStrategy: () => 100, maxRetriesPerRequest: null });
  const raw: string[] = [];
  client.on('error', () => undefined);
  client.on('message', (_channel: string, message: string) => raw.push(message));
  await client.subscribe(channel);
  return {
    raw,
    get messages() {
      return raw.map((m) => JSON.parse(m) as Record<string, unknown>);
    },
    close: () => client.disconnect(),
  };
}

/**
 * A TCP proxy in front of a server (Redis, PostgreSQL): cutting it is an outage for whoever connects
 * through it (the service) and for nobody else (a test's listener connects directly and misses nothing).
 */
export class TcpProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    readonly port: number,
    private readonly target: number,
  ) {}

  static async start(target: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(await freePort(), target);
    await proxy.up();
    return proxy;
  }

  /** `url` with its host and port replaced by the proxy's. */
  through(url: string): string {
    const proxied = new URL(url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(this.port);
    return proxied.toString();
  }

  up(): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.target, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => this.sockets.delete(socket));
      }
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
    return new Promise((resolve) => this.server!.listen(this.port, '127.0.0.1', () => resolve()));
  }

  /** Refuses new connections and cuts the open ones. */
  down(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    const server = this.server;
    this.server = undefined;
    return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}
