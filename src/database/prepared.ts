import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { QueryRunner } from 'typeorm';

/**
 * Hot-path statements as named prepared statements: PostgreSQL parses and plans each once per connection
 * instead of on every request (the multi-CTE write costs more to plan than to run). Their texts are a small
 * fixed set (lists travel as array parameters, never as text), so the names stay few; past MAX_NAMED a
 * text runs unnamed, so that no mistake can grow every connection's statement cache without bound.
 */
const MAX_NAMED = 64;
const names = new Map<string, string>();

function config(text: string, values: unknown[]): pg.QueryConfig {
  let name = names.get(text);
  if (!name) {
    if (names.size >= MAX_NAMED) return { text, values };
    name = `s_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    names.set(text, name);
  }
  return { name, text, values };
}

/** Runs on the query runner's own connection (inside its transaction, if any). */
export async function preparedQuery<T = Record<string, unknown>>(runner: QueryRunner, text: string, values: unknown[]): Promise<T[]> {
  const client = (runner as unknown as { databaseConnection: pg.PoolClient }).databaseConnection;
  if (!client) throw new Error('the query runner is not connected');
  const result = await client.query(config(text, values));
  return result.rows as T[];
}
