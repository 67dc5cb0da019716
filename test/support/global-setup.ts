import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** Creates this run's own database on the server DATABASE_URL points at; global-teardown drops it. */
export default async function globalSetup(): Promise<void> {
  const serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) throw new Error('DATABASE_URL must point at a PostgreSQL server (npm test sets it up)');
  const name = `switchboard_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  process.env.TEST_DATABASE_URL = url.toString();
  process.env.TEST_DATABASE_NAME = name;
  process.env.TEST_SERVER_URL = serverUrl;
}
