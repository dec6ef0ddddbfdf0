import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, removeDataDir } from '../../src/database/embedded-postgres.js';
import { alive } from '../support/processes.js';

const main = path.resolve('dist', 'src', 'main.js'); // `npm test` compiles before it runs the tests

function start(env: Record<string, string>, cwd: string, options: { detached?: boolean } = {}) {
  const child = spawn(process.execPath, [main], {
    cwd,
    detached: options.detached,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

async function waitForHealth(port: number, timeoutMs = 30_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      if (res.ok) return res;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error('the service did not come up');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the service as `npm start` runs it', () => {
  it.each([
    [{ PORT: 'abc' }, /PORT must be an integer from 1 to 65535 \(got "abc"\)/],
    [{ DATABASE_URL: 'mysql://localhost/x' }, /DATABASE_URL must be a URL/],
  ])('refuses a bad configuration %p with a clear message and exit code 1', async (env, message) => {
    const run = start(env, os.tmpdir());
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(message);
    expect(run.output()).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('starts on an embedded PostgreSQL with no configuration, and stops cleanly on SIGTERM', async () => {
    const cwd = await mkdtemp(path.join(os.tmpdir(), 'allocation-start-'));
    const port = await freePort();
    const run = start({ PORT: String(port) }, cwd);
    try {
      const health = await waitForHealth(port);
      expect(await health.json()).toMatchObject({ status: 'ok' });
      const created = await fetch(`http://127.0.0.1:${port}/add_batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ref: 'b1', sku: 'LAMP', qty: 3 }),
      });
      expect(created.status).toBe(201);
      const pidFile = path.join(cwd, '.data', 'postgres', 'postmaster.pid');
      const postgresPid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);

      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
      expect(run.output()).toContain('SIGTERM: shutting down');
      expect(existsSync(pidFile)).toBe(false); // the embedded server stopped too
      expect(() => process.kill(postgresPid, 0)).toThrow();
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGKILL');
      await removeDataDir(path.join(cwd, '.data', 'postgres'));
      await rm(cwd, { recursive: true, force: true });
    }
  });
});

/** POST /allocate on a new connection each time; the status, or the connection error's code. */
function allocate(port: number, body: object): Promise<number | string> {
  return new Promise((resolve) => {
    const payload = JSON.stringify(body);
    const req = http.request(
      { host: '127.0.0.1', port, path: '/allocate', method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
        res.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    req.end(payload);
  });
}

describe('Ctrl-C in a terminal (SIGINT to the whole process group) under load', () => {
  it('answers every request it took without a 5xx, loses no 202, then stops the database last', async () => {
    const cwd = await mkdtemp(path.join(os.tmpdir(), 'allocation-sigint-'));
    const port = await freePort();
    // Leader of its own process group, as `npm start` in a terminal is: the group gets the signal.
    let run = start({ PORT: String(port) }, cwd, { detached: true });
    try {
      await waitForHealth(port);
      const sku = `SIGINT-${Date.now()}`;
      expect((await fetch(`http://127.0.0.1:${port}/add_batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ref: 'big', sku, qty: 1_000_000 }) })).status).toBe(201);

      const answers: (number | string)[] = [];
      let signalled = false;
      let n = 0;
      const client = async () => {
        for (;;) {
          const answer = await allocate(port, { orderid: `o-${n++}`, sku, qty: 1 });
          answers.push(answer);
          if (!signalled && answers.length >= 100) {
            signalled = true;
            process.kill(-run.child.pid!, 'SIGINT');
          }
          if (typeof answer === 'string' && signalled) return; // the service stopped listening
        }
      };
      await Promise.all(Array.from({ length: 8 }, client));
      expect(await run.exited).toBe(0);
      expect(run.output()).toContain('SIGINT: shutting down');
      expect(run.output()).toMatch(/stopped after \d+ ms/);

      const statuses = answers.filter((a): a is number => typeof a === 'number');
      expect(statuses.filter((s) => s >= 500)).toEqual([]);
      expect(new Set(statuses)).toEqual(new Set([202]));
      // Requests that got no answer were never processed: every 202 and nothing else is in the database.
      run = start({ PORT: String(port) }, cwd);
      await waitForHealth(port);
      const product = (await (await fetch(`http://127.0.0.1:${port}/products/${sku}`)).json()) as { batches: { allocated: number }[] };
      expect(product.batches[0].allocated).toBe(statuses.length);
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGKILL');
      await removeDataDir(path.join(cwd, '.data', 'postgres'));
      await rm(cwd, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('npm run start:dev (nest start --watch)', () => {
  it('serves, and SIGTERM to npm stops the CLI, the service and its embedded PostgreSQL', async () => {
    // A copy of the project (sharing node_modules), so the watcher builds and keeps its data there.
    const cwd = await mkdtemp(path.join(os.tmpdir(), 'allocation-dev-'));
    for (const f of ['src', 'package.json', 'tsconfig.json', 'tsconfig.build.json', 'nest-cli.json', 'ormconfig.ts']) await cp(path.resolve(f), path.join(cwd, f), { recursive: true });
    await symlink(path.resolve('node_modules'), path.join(cwd, 'node_modules'));
    const port = await freePort();
    const npm = spawn('npm', ['run', 'start:dev'], { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: String(port), LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    npm.stdout.on('data', (c: Buffer) => (output += c.toString()));
    npm.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => npm.on('exit', (code) => resolve(code)));
    try {
      await waitForHealth(port, 60_000);
      const postgresPid = Number((await readFile(path.join(cwd, '.data', 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0]);
      const servicePid = Number(/"pid":(\d+)[^\n]*listening on/.exec(output)?.[1]);
      expect(servicePid).toBeGreaterThan(0);

      npm.kill('SIGTERM');
      await exited;
      await waitUntil(() => !alive(servicePid) && !alive(postgresPid));
      expect(output).toContain('SIGTERM: shutting down');
    } finally {
      if (npm.exitCode === null) npm.kill('SIGKILL');
      await removeDataDir(path.join(cwd, '.data', 'postgres'));
      await rm(cwd, { recursive: true, force: true });
    }
  }, 90_000);
});


/** Waits for a process to be gone; the bound only ends a failing test. */
async function waitUntil(done: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('still running');
    await new Promise((r) => setTimeout(r, 100));
  }
}
