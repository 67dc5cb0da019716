import { DataSource, type DataSourceOptions } from 'typeorm';
import { InitialSchema1763900000000 } from './migrations/1763900000000-initial-schema';
import { ConnectionsEventsWebhooks1763900000001 } from './migrations/1763900000001-connections-events-webhooks';
import { WebhookDeliveryAttempts1763900000003 } from './migrations/1763900000003-webhook-delivery-attempts';
import { IntegrationNextCheck1763900000004 } from './migrations/1763900000004-integration-next-check';

/** Every migration, in order. Listed explicitly so the built service and the CLI see the same set. */
export const MIGRATIONS = [InitialSchema1763900000000, ConnectionsEventsWebhooks1763900000001, WebhookDeliveryAttempts1763900000003, IntegrationNextCheck1763900000004];

/**
 * The one DataSource definition, shared by the app (TypeOrmModule) and the
 * TypeORM CLI (ormconfig.ts). Queries go through repositories or raw SQL;
 * `synchronize` is off everywhere, tests included.
 */
export function dataSourceOptions(url: string): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    synchronize: false,
    migrationsRun: false,
    migrations: MIGRATIONS,
    migrationsTableName: 'schema_migrations',
    entities: [],
    logging: false,
    extra: {
      max: 20,
      // A database that stops answering must surface as a 503 quickly, not a hung request.
      connectionTimeoutMillis: 3000,
      statement_timeout: 7000,
      // Client-side bound too: a frozen or partitioned server never answers, so the server-side
      // timeout alone would leave requests hanging.
      query_timeout: 8000,
      keepAlive: true,
      idle_in_transaction_session_timeout: 30000,
      application_name: 'switchboard',
    },
  };
}

export function createDataSource(url: string): DataSource {
  return new DataSource(dataSourceOptions(url));
}

/** Serialises migrations across instances starting together: only the holder of this lock migrates. */
const MIGRATION_LOCK_ID = 727_011_001;

export async function runMigrationsExclusively(dataSource: DataSource): Promise<void> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    await dataSource.runMigrations({ transaction: 'each' });
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]).catch(() => undefined);
    await runner.release();
  }
}
