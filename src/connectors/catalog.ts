import { serializeOnce } from '../common/http/json-reply';
import type { ConnectorDefinition } from './connector.types';
import { HTTP_FAMILY_CONNECTORS } from './definitions/presets';
import { mysqlConnector } from './definitions/mysql.connector';
import { postgresqlConnector } from './definitions/postgresql.connector';
import { redisConnector } from './definitions/redis.connector';
import { sftpConnector } from './definitions/sftp.connector';

/** Every built-in connector; adding one is one file plus one line here. */
export const CONNECTORS: readonly ConnectorDefinition[] = [...HTTP_FAMILY_CONNECTORS, postgresqlConnector, mysqlConnector, redisConnector, sftpConnector];

const BY_KEY = new Map(CONNECTORS.map((c) => [c.key, c]));

// Catalog metadata is immutable and goes out in every single-integration reply: serialized once.
for (const connector of CONNECTORS) serializeOnce(connector.configMetadata);

export function findConnector(key: string): ConnectorDefinition | undefined {
  return BY_KEY.get(key);
}
