import 'reflect-metadata';
import { createDataSource } from './src/database/data-source';

/**
 * The TypeORM CLI's entry (npm run migration:run|revert|generate). It is the
 * same DataSource definition the app uses; the CLI needs DATABASE_URL (the
 * embedded database belongs to the running service).
 */
const url = process.env.DATABASE_URL;
if (!url) throw new Error('DATABASE_URL must be set for the TypeORM CLI');

export default createDataSource(url);
