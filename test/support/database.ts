import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/database/data-source-options.js';
import { runMigrations } from '../../src/database/migrate.js';

/** A DataSource on the run's database with the schema applied (as one service instance would have). */
export async function openDataSource(poolSize = 20): Promise<DataSource> {
  const dataSource = new DataSource(dataSourceOptions(process.env.DATABASE_URL!, poolSize));
  await dataSource.initialize();
  await runMigrations(dataSource);
  return dataSource;
}
