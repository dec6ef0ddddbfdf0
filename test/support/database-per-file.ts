import { afterAll, beforeAll } from '@jest/globals';
import pg from 'pg';

/**
 * Each test file gets a database of its own on the run's server: every app instance runs an outbox relay
 * that takes over any stale event it finds, so files sharing a database would handle each other's events.
 */
const serverUrl = process.env.DATABASE_URL!;
const name = `t_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  process.env.DATABASE_URL = url.toString();
});

afterAll(async () => {
  process.env.DATABASE_URL = serverUrl;
  await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
});
