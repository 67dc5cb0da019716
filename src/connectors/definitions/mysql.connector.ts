import { connect as netConnect, type Socket } from 'node:net';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2';
import { CheckError } from '../../common/outbound/check-error';
import type { CheckContext, ConnectorDefinition } from '../connector.types';
import { SSL_MODES, sqlConfigMetadata, type SslMode } from './sql-metadata';
import {
  errorMessage,
  formatTarget,
  integerParam,
  optionParam,
  requireSecret,
  requireString,
  runGuardedCheck,
  secretValues,
  stringParam,
  upstreamText,
} from './tcp-errors';

interface MysqlLogin {
  host: string;
  port: number;
  database: string | undefined;
  user: string;
  password: string | undefined;
  sslMode: SslMode;
}

/** The TLS mode a connection string asks for (`ssl-mode`, as in MySQL's own URIs, or `sslmode`). */
function sslModeFromUri(url: URL): SslMode | undefined {
  const raw = url.searchParams.get('ssl-mode') ?? url.searchParams.get('sslMode') ?? url.searchParams.get('sslmode');
  if (raw === null) return undefined;
  switch (raw.toLowerCase().replace(/_/g, '-')) {
    case 'disable':
    case 'disabled':
    case 'preferred':
    case 'prefer':
      return 'disable';
    case 'require':
    case 'required':
      return 'require';
    case 'verify-ca':
    case 'verify-identity':
    case 'verify-full':
      return 'verify-full';
    default:
      throw new CheckError('CONFIG_INVALID', 'the connection string ssl-mode is not supported');
  }
}

function decoded(component: string): string {
  try {
    return decodeURIComponent(component);
  } catch {
    throw new CheckError('CONFIG_INVALID', 'the connection string could not be parsed');
  }
}

function loginFromConnectionString(ctx: CheckContext): MysqlLogin {
  const connectionString = requireSecret(ctx.credentials, 'connectionString');
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    throw new CheckError('CONFIG_INVALID', 'the connection string could not be parsed');
  }
  if (url.protocol !== 'mysql:' && url.protocol !== 'mariadb:') {
    throw new CheckError('CONFIG_INVALID', 'the connection string must start with mysql:// or mariadb://');
  }
  const host = url.hostname.replace(/^\[(.+)\]$/, '$1') || stringParam(ctx.parameters, 'host');
  if (!host) throw new CheckError('CONFIG_INVALID', 'the connection string names no host');
  const user = decoded(url.username);
  if (user === '') throw new CheckError('CONFIG_INVALID', 'the connection string names no user');
  const password = decoded(url.password);
  const database = decoded(url.pathname.replace(/^\//, ''));
  return {
    host,
    port: url.port ? integerParam({ port: url.port }, 'port', 3306, 1, 65535) : integerParam(ctx.parameters, 'port', 3306, 1, 65535),
    database: database || stringParam(ctx.parameters, 'database'),
    user,
    password: password === '' ? undefined : password,
    sslMode: sslModeFromUri(url) ?? optionParam(ctx.parameters, 'sslMode', SSL_MODES, 'disable'),
  };
}

function readLogin(ctx: CheckContext): MysqlLogin {
  if (ctx.auth.type === 'CONNECTION_STRING') return loginFromConnectionString(ctx);
  if (ctx.auth.type !== 'USER_PASSWORD') {
    throw new CheckError('CONFIG_INVALID', `auth method type ${ctx.auth.type} is not supported by mysql`);
  }
  return {
    host: requireString(ctx.parameters, 'host', 'parameter'),
    port: integerParam(ctx.parameters, 'port', 3306, 1, 65535),
    database: stringParam(ctx.parameters, 'database'),
    user: requireString(ctx.credentials, 'username', 'credential'),
    password: requireSecret(ctx.credentials, 'password'),
    sslMode: optionParam(ctx.parameters, 'sslMode', SSL_MODES, 'disable'),
  };
}

function classifyMysqlError(err: unknown, login: MysqlLogin | undefined, target: string, secrets: string[]): CheckError | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  if (typeof code !== 'string') return undefined;
  const user = login?.user ?? 'the user';
  if (code.startsWith('ER_ACCESS_DENIED') || code === 'ER_NOT_SUPPORTED_AUTH_MODE') {
    return new CheckError('AUTH_FAILED', `authentication failed for user ${user}`);
  }
  if (code === 'ER_DBACCESS_DENIED_ERROR') {
    return new CheckError('AUTH_FAILED', `user ${user} may not use database ${login?.database ?? ''}`);
  }
  if (code === 'ER_HOST_NOT_PRIVILEGED' || code === 'ER_HOST_IS_BLOCKED') {
    return new CheckError('AUTH_FAILED', `${target} does not accept connections from this service for user ${user}`);
  }
  if (code === 'ER_BAD_DB_ERROR') return new CheckError('UPSTREAM_ERROR', `database ${login?.database ?? ''} does not exist`);
  if (code === 'HANDSHAKE_NO_SSL_SUPPORT') {
    return new CheckError('TLS_ERROR', `${target} does not accept TLS connections (sslMode ${login?.sslMode})`);
  }
  if (code === 'PROTOCOL_CONNECTION_LOST' || code === 'PROTOCOL_SEQUENCE_TIMEOUT') {
    return new CheckError('UPSTREAM_ERROR', `${target} closed the connection`);
  }
  if (code.startsWith('ER_')) return new CheckError('UPSTREAM_ERROR', `server error ${code}: ${upstreamText(errorMessage(err), secrets)}`);
  return undefined;
}

/** Resolves once the handshake (login included) is done. */
function whenConnected(connection: Connection): Promise<void> {
  return new Promise((resolve, reject) => {
    connection.once('connect', () => resolve());
    connection.once('error', reject);
  });
}

function query(connection: Connection, sql: string): Promise<RowDataPacket[]> {
  return new Promise((resolve, reject) => {
    connection.query<RowDataPacket[]>(sql, (err, rows) => (err ? reject(err) : resolve(rows)));
  });
}

async function checkMysql(ctx: CheckContext) {
  let login: MysqlLogin | undefined;
  let target = '';
  let connection: Connection | undefined;
  let socket: Socket | undefined;
  const secrets = secretValues(ctx);
  return runGuardedCheck(ctx, {
    secrets,
    target: () => target,
    classify: (err) => classifyMysqlError(err, login, target, secrets),
    destroy: () => {
      socket?.destroy();
      connection?.destroy();
    },
    work: async ({ details, assertActive }) => {
      login = readLogin(ctx);
      if (login.password !== undefined) secrets.push(login.password);
      target = formatTarget(login.host, login.port);
      const resolved = await ctx.outbound.resolve(login.host);
      assertActive();
      const port = login.port;
      connection = createConnection({
        // The name the user gave is what TLS checks; the socket goes to the address the policy approved.
        host: login.host,
        port,
        stream: () => (socket = netConnect({ host: resolved.address, port })),
        user: login.user,
        password: login.password ?? '',
        database: login.database,
        ssl: login.sslMode === 'disable' ? undefined : { rejectUnauthorized: login.sslMode === 'verify-full', verifyIdentity: login.sslMode === 'verify-full' },
        connectTimeout: ctx.timeoutMs,
        multipleStatements: false,
      });
      // mysql2 may report one failure twice; the second must not be an unhandled 'error' event.
      connection.on('error', () => undefined);
      await whenConnected(connection);
      await query(connection, 'SELECT 1');
      const rows = await query(connection, 'SELECT VERSION() AS version');
      details.serverVersion = rows[0]?.version ?? null;
      // A polite COM_QUIT on success; on failure the runner destroys the socket (end() would wait forever).
      const open = connection;
      await new Promise<void>((resolve) => open.end(() => resolve()));
      return { serverVersion: details.serverVersion, user: login.user };
    },
  });
}

export const mysqlConnector: ConnectorDefinition = {
  key: 'mysql',
  displayName: 'MySQL / MariaDB',
  description: 'A MySQL or MariaDB server. Verified by logging in and running SELECT 1.',
  category: 'protocol',
  verifiable: true,
  configMetadata: sqlConfigMetadata({
    defaultPort: 3306,
    database: { name: 'database', type: 'String', displayName: 'Database', description: 'Optional default schema.' },
    connectionStringDescription:
      'mysql://user:password@host:3306/database?ssl-mode=REQUIRED. Its host, port, database and TLS mode win over the parameters.',
  }),
  destinationParameters: ['host', 'port'],
  check: checkMysql,
};
