import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import request from 'supertest';
import type { Request, SpanRecord } from './traced-service.js';

export type { SpanRecord };

/**
 * The parent's side of traced-service.ts: a child process running the application with tracing on and an
 * in-memory exporter. Its log lines (JSON) are kept in `logs`.
 */
export class TracedService {
  readonly logs: Record<string, unknown>[] = [];
  private next = 0;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

  private constructor(private readonly child: ChildProcess) {
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        try {
          this.logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          /* not a log line */
        }
      }
    });
    child.on('message', (message: { id?: number; result?: unknown; error?: string }) => {
      const waiter = message.id === undefined ? undefined : this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id!);
      if (message.error) waiter.reject(new Error(message.error));
      else waiter.resolve(message.result);
    });
  }

  static async start(env: Record<string, string | undefined> = {}): Promise<TracedService> {
    const child = spawn(process.execPath, [path.resolve('dist', 'test', 'support', 'traced-service.js')], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`traced service exited with ${code}`)));
    });
    return new TracedService(child);
  }

  private call<T>(req: Request): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send({ id, request: req });
    });
  }

  /** Starts an instance of the application in the child; its HTTP API. */
  async startApp(name: string, env: Record<string, string> = {}): Promise<ReturnType<typeof request>> {
    const { port } = await this.call<{ port: number }>({ op: 'start', name, env });
    return request(`http://127.0.0.1:${port}`);
  }

  deadAfterCommit(name: string): Promise<void> {
    return this.call({ op: 'deadAfterCommit', name });
  }

  closeApp(name: string): Promise<void> {
    return this.call({ op: 'close', name });
  }

  spans(): Promise<SpanRecord[]> {
    return this.call({ op: 'spans' });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }
}

/** A W3C traceparent for a new trace, as a caller would send it: its trace id and the caller's span id. */
export function newTraceparent(): { traceparent: string; traceId: string; spanId: string } {
  const hex = (bytes: number) => Array.from({ length: bytes }, () => Math.floor(Math.random() * 256).toString(16).padStart(2, '0')).join('');
  const traceId = hex(16);
  const spanId = hex(8);
  return { traceparent: `00-${traceId}-${spanId}-01`, traceId, spanId };
}
