import { createHash } from 'node:crypto';
import type pg from 'pg';
import { arrayParameter } from './array-parameter.js';

/**
 * Hot-path statements as named prepared statements: PostgreSQL parses and plans each once per connection
 * instead of on every request (the multi-CTE write costs more to plan than to run). Their texts are a small
 * fixed set (lists travel as array parameters, never as text), so the names stay few; past MAX_NAMED a
 * text runs unnamed, so that no mistake can grow every connection's statement cache without bound.
 */
const MAX_NAMED = 64;
const names = new Map<string, string>();

export function queryConfig(text: string, parameters: unknown[]): pg.QueryConfig {
  const values = parameters.map(arrayParameter);
  let name = names.get(text);
  if (!name) {
    if (names.size >= MAX_NAMED) return { text, values };
    name = `s_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    names.set(text, name);
  }
  return { name, text, values };
}
