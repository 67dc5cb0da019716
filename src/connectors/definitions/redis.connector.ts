import Redis from 'ioredis';
import { CheckError } from '../../common/outbound/check-error';
import type { CheckContext, ConnectorDefinition } from '../connector.types';
import { auth, params } from '../metadata-builders';
import {
  booleanParam,
  errorMessage,
  formatTarget,
  integerParam,
  requireSecret,
  requireString,
  runGuardedCheck,
  secretValues,
  stringParam,
  tlsIdentityOptions,
  upstreamText,
} from './tcp-errors';

interface RedisLogin {
  host: string;
  port: number;
  db: number;
  tls: boolean;
  username: string | undefined;
  password: string | undefined;
}

function readLogin(ctx: CheckContext): RedisLogin {
  const base = {
    host: requireString(ctx.parameters, 'host', 'parameter'),
    port: integerParam(ctx.parameters, 'port', 6379, 1, 65535),
    db: integerParam(ctx.parameters, 'db', 0, 0, 2147483647),
    tls: booleanParam(ctx.parameters, 'tls', false),
  };
  if (ctx.auth.type === 'NONE') return { ...base, username: undefined, password: undefined };
  if (ctx.auth.type !== 'USER_PASSWORD') {
    throw new CheckError('CONFIG_INVALID', `auth method type ${ctx.auth.type} is not supported by redis`);
  }
  return { ...base, username: stringParam(ctx.credentials, 'username'), password: requireSecret(ctx.credentials, 'password') };
}

function classifyRedisError(err: unknown, login: RedisLogin | undefined, target: string, secrets: string[]): CheckError | undefined {
  const message = errorMessage(err);
  const who = login?.username ? `user ${login.username}` : 'the default user';
  if (/^(WRONGPASS|NOPERM)\b/.test(message) || /^ERR invalid (password|username)/i.test(message)) {
    return new CheckError('AUTH_FAILED', `authentication failed for ${who}`);
  }
  if (/^NOAUTH\b/.test(message)) {
    return new CheckError('AUTH_FAILED', login?.password === undefined ? `${target} requires a password` : `authentication failed for ${who}`);
  }
  if (/DB index is out of range/i.test(message)) {
    return new CheckError('UPSTREAM_ERROR', `database ${login?.db ?? ''} does not exist on ${target}`);
  }
  if (err !== null && typeof err === 'object' && (err as { name?: unknown }).name === 'ReplyError') {
    return new CheckError('UPSTREAM_ERROR', `server error: ${upstreamText(message, secrets)}`);
  }
  if (message === 'Command timed out') return new CheckError('TIMEOUT', `${target} did not answer in time`);
  if (message === 'Connection is closed.') return new CheckError('UPSTREAM_ERROR', `${target} closed the connection`);
  return undefined;
}

/** From INFO server; null when the ACL user may not run INFO (the check itself is PING). */
async function serverVersion(client: Redis): Promise<string | null> {
  let info: string;
  try {
    info = await client.info('server');
  } catch (err) {
    if (/^NOPERM\b/.test(errorMessage(err))) return null;
    throw err;
  }
  const match = /^redis_version:(.+)$/m.exec(info);
  return match ? match[1].trim() : null;
}

async function checkRedis(ctx: CheckContext) {
  let login: RedisLogin | undefined;
  let target = '';
  let client: Redis | undefined;
  let lastEventError: unknown;
  const secrets = secretValues(ctx);
  return runGuardedCheck(ctx, {
    secrets,
    target: () => target,
    classify: (err) => classifyRedisError(err, login, target, secrets),
    destroy: () => {
      // disconnect() on a connection ioredis already closed would leave its 2 s close timer behind.
      if (client && client.status !== 'end') client.disconnect();
      // disconnect() only half-closes and waits; a check that is over closes at once.
      client?.stream?.destroy();
    },
    work: async ({ details, assertActive }) => {
      login = readLogin(ctx);
      target = formatTarget(login.host, login.port);
      const resolved = await ctx.outbound.resolve(login.host);
      assertActive();
      client = new Redis({
        host: resolved.address,
        port: login.port,
        username: login.username,
        password: login.password,
        tls: login.tls ? tlsIdentityOptions(login.host, true) : undefined,
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
        reconnectOnError: () => false,
        autoResubscribe: false,
        connectTimeout: ctx.timeoutMs,
        commandTimeout: ctx.timeoutMs,
        // No INFO before the check: a minimal ACL user may only be allowed PING.
        enableReadyCheck: false,
      });
      client.on('error', (err: unknown) => {
        lastEventError ??= err;
      });
      const connected = client;
      try {
        await connected.connect();
        // Selected here rather than on connect, where ioredis would only report a bad number as an event.
        if (login.db !== 0) await connected.select(login.db);
        const pong = await connected.ping();
        details.serverVersion = await serverVersion(connected);
        await connected.quit().catch(() => undefined);
        return { serverVersion: details.serverVersion, pong };
      } catch (err) {
        // ioredis reports the cause (WRONGPASS, ECONNREFUSED, …) as an event and rejects
        // the pending call with a bare "Connection is closed."; the cause is the news.
        throw lastEventError ?? err;
      }
    },
  });
}

export const redisConnector: ConnectorDefinition = {
  key: 'redis',
  displayName: 'Redis',
  description: 'A Redis (or Valkey) server. Verified with AUTH and PING.',
  category: 'protocol',
  verifiable: true,
  configMetadata: {
    parametersMetadata: params(
      { name: 'host', type: 'String', required: true, displayName: 'Host', description: 'Server host name or address.' },
      { name: 'port', type: 'Integer', defaultValue: 6379, integerRange: { min: 1, max: 65535 }, displayName: 'Port' },
      { name: 'db', type: 'Integer', defaultValue: 0, integerRange: { min: 0, max: null }, displayName: 'Database number' },
      { name: 'tls', type: 'Boolean', defaultValue: false, displayName: 'TLS', description: 'Connect over TLS, verifying the certificate for the host.' },
    ),
    authMetadata: [
      auth({
        type: 'USER_PASSWORD',
        displayName: 'Password (ACL user optional)',
        credentials: [
          { name: 'username', type: 'String', secret: false, required: false, displayName: 'User name', description: 'An ACL user; empty for the default user.' },
          { name: 'password', type: 'String', displayName: 'Password' },
        ],
      }),
      auth({ type: 'NONE', displayName: 'No authentication', sensitivity: 'LOW', credentials: [] }),
    ],
  },
  destinationParameters: ['host', 'port'],
  check: checkRedis,
};
