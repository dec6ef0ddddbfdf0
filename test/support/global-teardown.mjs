import { rm } from 'node:fs/promises';
import pg from 'pg';
import { removeDataDir } from '../../dist/src/database/embedded-postgres.js';

export default async function globalTeardown() {
  const embedded = globalThis.__embeddedPostgres;
  if (embedded) {
    await embedded.server.stop();
    await removeDataDir(embedded.server.dataDir);
    await rm(embedded.folder, { recursive: true, force: true });
  }
  const database = globalThis.__testDatabase;
  if (database) {
    const admin = new pg.Client({ connectionString: database.admin });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${database.name} WITH (FORCE)`);
    await admin.end();
  }
}
