// Plain JavaScript: jest loads global setup outside its ESM transform, so this imports the compiled
// launcher (`npm test` compiles first).
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../dist/src/database/embedded-postgres.js';

/**
 * One PostgreSQL for the whole run: with DATABASE_URL, a fresh database on that server; without it, an
 * embedded PostgreSQL in a new temporary folder. Workers inherit DATABASE_URL.
 */
export default async function globalSetup() {
  const given = process.env.DATABASE_URL;
  if (given) {
    const name = `allocation_test_${process.pid}_${Date.now()}`;
    const admin = new pg.Client({ connectionString: given });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(given);
    url.pathname = `/${name}`;
    process.env.DATABASE_URL = url.toString();
    globalThis.__testDatabase = { admin: given, name };
    return;
  }
  // mkdtemp makes a 0700 folder: every run also exercises the embedded server from such a folder.
  const folder = await mkdtemp(path.join(os.tmpdir(), 'allocation-test-'));
  const server = await startEmbeddedPostgres({ dataDir: path.join(folder, 'pgdata') });
  process.env.DATABASE_URL = server.url;
  globalThis.__embeddedPostgres = { server, folder };
}
