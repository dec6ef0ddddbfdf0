import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { DataSource } from 'typeorm';
import { arrayParameter } from '../../src/database/array-parameter.js';
import { queryConfig } from '../../src/database/prepared.js';
import { openDataSource } from '../support/database.js';

describe('array parameters as literal text (real PostgreSQL)', () => {
  let dataSource: DataSource;

  beforeAll(async () => {
    dataSource = await openDataSource();
  });

  afterAll(async () => {
    await dataSource.destroy();
  });

  /** What PostgreSQL reads from the parameters, as a unit of work sends them. */
  const roundTrip = async (text: string, values: unknown[]) => {
    const config = queryConfig(text, values);
    const [row] = await dataSource.query(config.text, config.values as unknown[]);
    return row as Record<string, unknown>;
  };

  it('reads back every text as it was, whatever it holds', async () => {
    const texts = ['plain', '', 'NULL', 'null', ' padded ', 'a,b', '{braces}', 'say "hi"', 'back\\slash', '\\"', 'tab\there', 'line\nbreak', 'ünïcødé ✓', null, 'x'.repeat(300)];
    const { v } = await roundTrip('SELECT $1::varchar[] AS v', [texts]);
    expect(v).toEqual(texts);
  });

  it('reads numbers, dates, JSON and UUIDs with their nulls', async () => {
    const payloads = [JSON.stringify({ orderid: 'o"1', note: 'a\\b', n: 1 }), JSON.stringify({})];
    const row = await roundTrip('SELECT $1::int[] AS ints, $2::date[]::text[] AS dates, $3::jsonb[] AS docs, $4::uuid[] AS ids, $5::bigint[] AS empty', [
      [1, -2, null, 2147483647],
      ['2030-01-01', null],
      payloads,
      ['3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f'],
      [],
    ]);
    expect(row.ints).toEqual([1, -2, null, 2147483647]);
    expect(row.dates).toEqual(['2030-01-01', null]);
    expect(row.docs).toEqual([{ orderid: 'o"1', note: 'a\\b', n: 1 }, {}]);
    expect(row.ids).toEqual(['3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f']);
    expect(row.empty).toEqual([]);
  });

  it('leaves to node-postgres what is not an array of scalars', () => {
    const nested = [[1, 2], [3, 4]];
    const date = new Date();
    expect(arrayParameter(nested)).toBe(nested);
    expect(arrayParameter([date])).toEqual([date]);
    expect(arrayParameter('text')).toBe('text');
    expect(arrayParameter(7)).toBe(7);
  });
});
