// The DataSource the TypeORM CLI uses, e.g.
//   npx typeorm migration:show -d dist/ormconfig.js   (after `npm run build`)
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from './src/database/data-source-options.js';

const url = process.env.DATABASE_URL;
if (!url) throw new Error('Set DATABASE_URL to use the TypeORM CLI');

export default new DataSource(dataSourceOptions(url));
