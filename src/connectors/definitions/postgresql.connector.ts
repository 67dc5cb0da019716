import { Client, DatabaseError } from 'pg';
import { parse as parseConnectionString } from 'pg-connection-string';
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
  tlsIdentityOptions,
  upstreamText,
} from './tcp-errors';

interface PostgresLogin {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string | undefined;
  sslMode: SslMode;
}

/** Query options that would make the driver read local files (client certificates, CA bundles). */
const FILE_OPTIONS = /ssl(cert|key|rootcert|crl|crldir|password)/i;

/** Undoes percent-encoding repeatedly, so an encoded option name cannot hide from FILE_OPTIONS. */
function fullyDecoded(text: string): string {
  let current = text;
  for (let i = 0; i < 5; i++) {
    const next = current.replace(/%([0-9a-f]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    if (next === current) break;
    current = next;
  }
  return current;
}

/** libpq's sslmode values, folded onto the three this connector offers. */
function sslModeFromConnectionString(parsed: Record<string, unknown>): SslMode | undefined {
  const mode = parsed.sslmode;
  if (typeof mode === 'string') {
    switch (mode) {
      case 'disable':
      case 'allow':
      case 'prefer':
        return 'disable';
      case 'require':
      case 'no-verify':
        return 'require';
      case 'verify-ca':
      case 'verify-full':
        return 'verify-full';
      default:
        throw new CheckError('CONFIG_INVALID', `connection string sslmode "${mode.slice(0, 20)}" is not supported`);
    }
  }
  // pg's own `ssl=true` means TLS with the default (verifying) settings.
  if (parsed.ssl === true) return 'verify-full';
  if (parsed.ssl === false) return 'disable';
  return undefined;
}

function loginFromConnectionString(ctx: CheckContext): PostgresLogin {
  const connectionString = requireSecret(ctx.credentials, 'connectionString');
  if (FILE_OPTIONS.test(fullyDecoded(connectionString))) {
    throw new CheckError('CONFIG_INVALID', 'connection string options that name local files (sslcert, sslkey, sslrootcert, …) are not supported');
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = parseConnectionString(connectionString);
  } catch {
    throw new CheckError('CONFIG_INVALID', 'the connection string could not be parsed');
  }
  const host = stringParam(parsed, 'host') ?? stringParam(ctx.parameters, 'host');
  if (host === undefined) throw new CheckError('CONFIG_INVALID', 'the connection string names no host');
  if (host.startsWith('/') || host.includes(',')) {
    throw new CheckError('CONFIG_INVALID', 'the connection string must name one TCP host (no socket paths or host lists)');
  }
  const user = stringParam(parsed, 'user');
  if (user === undefined) throw new CheckError('CONFIG_INVALID', 'the connection string names no user');
  const password = typeof parsed.password === 'string' && parsed.password !== '' ? parsed.password : undefined;
  const portSource = stringParam(parsed, 'port') !== undefined ? parsed : ctx.parameters;
  return {
    host,
    port: integerParam(portSource, 'port', 5432, 1, 65535),
    database: stringParam(parsed, 'database') ?? stringParam(ctx.parameters, 'database', 'postgres') ?? 'postgres',
    user,
    password,
    sslMode: sslModeFromConnectionString(parsed) ?? optionParam(ctx.parameters, 'sslMode', SSL_MODES, 'disable'),
  };
}

function readLogin(ctx: CheckContext): PostgresLogin {
  if (ctx.auth.type === 'CONNECTION_STRING') return loginFromConnectionString(ctx);
  if (ctx.auth.type !== 'USER_PASSWORD') {
    throw new CheckError('CONFIG_INVALID', `auth method type ${ctx.auth.type} is not supported by postgresql`);
  }
  return {
    host: requireString(ctx.parameters, 'host', 'parameter'),
    port: integerParam(ctx.parameters, 'port', 5432, 1, 65535),
    database: stringParam(ctx.parameters, 'database', 'postgres') ?? 'postgres',
    user: requireString(ctx.credentials, 'username', 'credential'),
    password: requireSecret(ctx.credentials, 'password'),
    sslMode: optionParam(ctx.parameters, 'sslMode', SSL_MODES, 'disable'),
  };
}

/** Maps what the server or driver reported, with messages of our own. */
function classifyPostgresError(err: unknown, login: PostgresLogin | undefined, target: string, secrets: string[]): CheckError | undefined {
  const user = login?.user ?? 'the user';
  if (err instanceof DatabaseError) {
    const sqlState = err.code ?? '';
    if (sqlState === '28P01' || sqlState === '28000') {
      return new CheckError('AUTH_FAILED', `authentication failed for user ${user}`);
    }
    if (sqlState === '3D000') return new CheckError('UPSTREAM_ERROR', `database ${login?.database ?? ''} does not exist`);
    if (sqlState === '42501') return new CheckError('AUTH_FAILED', `user ${user} is not allowed to connect`);
    return new CheckError('UPSTREAM_ERROR', `server error ${sqlState}: ${upstreamText(err.message, secrets)}`);
  }
  const message = errorMessage(err);
  if (message === 'The server does not support SSL connections') {
    return new CheckError('TLS_ERROR', `${target} does not accept TLS connections (sslMode ${login?.sslMode})`);
  }
  if (message === 'There was an error establishing an SSL connection') {
    return new CheckError('TLS_ERROR', `${target} refused the TLS upgrade`);
  }
  if (/timeout/i.test(message) && /connection|expired/i.test(message)) {
    return new CheckError('TIMEOUT', `connection to ${target} timed out`);
  }
  if (message.startsWith('SASL:') || /password must be a string/i.test(message)) {
    return new CheckError('AUTH_FAILED', `authentication failed for user ${user}`);
  }
  if (/^Connection terminated/.test(message)) {
    return new CheckError('UPSTREAM_ERROR', `${target} closed the connection`);
  }
  return undefined;
}

async function checkPostgres(ctx: CheckContext) {
  let login: PostgresLogin | undefined;
  let target = '';
  let client: Client | undefined;
  const secrets = secretValues(ctx);
  return runGuardedCheck(ctx, {
    secrets,
    target: () => target,
    classify: (err) => classifyPostgresError(err, login, target, secrets),
    destroy: () => {
      client?.connection?.stream?.destroy();
    },
    work: async ({ details, assertActive }) => {
      login = readLogin(ctx);
      if (login.password !== undefined) secrets.push(login.password);
      target = formatTarget(login.host, login.port);
      const resolved = await ctx.outbound.resolve(login.host);
      assertActive();
      const password = login.password;
      client = new Client({
        host: resolved.address,
        port: login.port,
        user: login.user,
        database: login.database,
        // A function, so that pg never falls back to PGPASSWORD or ~/.pgpass of this service.
        password: () => password ?? '',
        ssl: login.sslMode === 'disable' ? false : tlsIdentityOptions(login.host, login.sslMode === 'verify-full'),
        application_name: 'switchboard-check',
        connectionTimeoutMillis: ctx.timeoutMs,
        query_timeout: ctx.timeoutMs,
        keepAlive: false,
      });
      // Errors after connect (the server going away) arrive as events; the awaited calls report them.
      client.on('error', () => undefined);
      await client.connect();
      await client.query('SELECT 1');
      const version = await client.query<{ server_version: string }>('SHOW server_version');
      details.serverVersion = version.rows[0]?.server_version ?? null;
      // A polite Terminate on success; on failure the runner destroys the socket.
      await client.end();
      return { serverVersion: details.serverVersion, user: login.user, database: login.database };
    },
  });
}

export const postgresqlConnector: ConnectorDefinition = {
  key: 'postgresql',
  displayName: 'PostgreSQL',
  description: 'A PostgreSQL server. Verified by logging in and running SELECT 1.',
  category: 'protocol',
  verifiable: true,
  configMetadata: sqlConfigMetadata({
    defaultPort: 5432,
    database: { name: 'database', type: 'String', defaultValue: 'postgres', displayName: 'Database' },
    connectionStringDescription:
      'postgresql://user:password@host:5432/database?sslmode=require. Its host, port, database and TLS mode win over the parameters.',
  }),
  destinationParameters: ['host', 'port'],
  check: checkPostgres,
};
