import { Injectable } from '@nestjs/common';
import type { Pool, QueryResultRow } from 'pg';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';

/**
 * Named prepared statements on the DataSource's own pg pool, for the hottest
 * queries. PostgreSQL parses and plans a named statement once per connection
 * (and switches to a generic plan after five runs), where `DataSource.query`
 * sends an unnamed one that is parsed and planned every time: 0.5 ms of
 * planning for the verification write alone. It also skips TypeORM's query
 * runner, which the caller does not need for a single autocommit statement.
 *
 * Same pool and timeouts as the rest of the service. Errors are pg's own
 * `DatabaseError`, not TypeORM's `QueryFailedError` wrapping it: the helpers
 * that read a SQLSTATE (`isUniqueViolation`, `isForeignKeyViolation`,
 * `isDatabaseUnavailable`, the problem filter's NUL mapping) accept both. Not for statements inside a transaction: those go through the
 * transaction's EntityManager. (A transaction-pooling proxy such as PgBouncer in
 * transaction mode does not keep named statements; run PgBouncer ≥ 1.21 with
 * `max_prepared_statements`, or session mode.)
 */
@Injectable()
export class PreparedSql {
  constructor(private readonly dataSource: DataSource) {}

  private get pool(): Pool {
    return (this.dataSource.driver as PostgresDriver).master as Pool;
  }

  /** Runs the named statement `name` (one name per text, for the life of the process). */
  async query<T extends QueryResultRow>(name: string, text: string, values: unknown[]): Promise<T[]> {
    const result = await this.pool.query<T>({ name, text, values });
    return result.rows;
  }
}
