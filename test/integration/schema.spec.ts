import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/database/data-source-options.js';
import { openDataSource } from '../support/database.js';

/**
 * The schema as PostgreSQL itself describes it (its own normalised text of every CHECK, index, default),
 * so two databases compare equal only if they would dump the same. TypeORM's own diff compares CHECKs by
 * name and ignores an index's WHERE and column order, hence this second, stricter comparison.
 */
async function catalog(dataSource: DataSource): Promise<string[]> {
  const rows: { line: string }[] = await dataSource.query(`
    SELECT format('column %s.%s %s%s%s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                  CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                  ' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid)) AS line
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid AND c.relkind = 'r'
      JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relname <> 'migrations'
    UNION ALL
    SELECT format('constraint %s.%s %s', c.relname, con.conname, pg_get_constraintdef(con.oid))
      FROM pg_constraint con
      JOIN pg_class c ON c.oid = con.conrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
     WHERE c.relname <> 'migrations'
    UNION ALL
    SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'migrations'
    UNION ALL
    SELECT format('sequence %s %s', sequencename, data_type) FROM pg_sequences
     WHERE schemaname = 'public' AND sequencename <> 'migrations_id_seq'
    ORDER BY 1`);
  return rows.map((r) => r.line);
}

describe('schema: the entities are its one truth (real PostgreSQL)', () => {
  let migrated: DataSource;
  let fromEntities: DataSource;
  let entitiesDb: string;

  beforeAll(async () => {
    migrated = await openDataSource(2);
    entitiesDb = `${migrated.driver.database}_entities`;
    await migrated.query(`CREATE DATABASE ${entitiesDb}`);
    const url = new URL(process.env.DATABASE_URL!);
    url.pathname = `/${entitiesDb}`;
    fromEntities = new DataSource(dataSourceOptions(url.toString(), 2));
    await fromEntities.initialize();
  });
  afterAll(async () => {
    await fromEntities?.destroy();
    await migrated.query(`DROP DATABASE IF EXISTS ${entitiesDb} WITH (FORCE)`);
    await migrated.destroy();
  });

  it('leaves migration:generate nothing to do on a migrated database', async () => {
    // What `typeorm migration:generate` runs to find the up queries of a new migration.
    const sql = await migrated.driver.createSchemaBuilder().log();
    expect(sql.upQueries.map((q) => q.query)).toEqual([]);
  });

  it('builds, from the entities alone, exactly the schema the migrations build', async () => {
    await fromEntities.synchronize();
    const expected = await catalog(migrated);
    expect(expected.length).toBeGreaterThan(50); // the query does see the schema
    expect(await catalog(fromEntities)).toEqual(expected);
  });
});
