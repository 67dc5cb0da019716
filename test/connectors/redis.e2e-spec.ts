import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { redisConnector } from '../../src/connectors/definitions/redis.connector';
import { runCheck } from './support/check-context';
import { startPasswordRedis, type PasswordRedis } from './support/redis-server';
import { closedPort, startCanary, startSilentServer, within } from './support/sockets';

const secret = () => `pw-${randomBytes(12).toString('hex')}`;
/** The shared server on this machine, without a password. */
const OPEN_REDIS_PORT = 6379;

describe('redis connector (real redis-server)', () => {
  let server: PasswordRedis;
  let serverVersion: string;
  const password = secret();
  const wrongPassword = secret();
  const aclUser = `sb_test_${randomBytes(4).toString('hex')}`;
  const aclPassword = secret();
  const pingOnlyUser = `sb_ping_${randomBytes(4).toString('hex')}`;

  const withPassword = (overrides: { parameters?: Record<string, unknown>; credentials?: Record<string, unknown>; timeoutMs?: number } = {}) =>
    runCheck(redisConnector, {
      authMethod: 'USER_PASSWORD',
      parameters: { host: '127.0.0.1', port: server.port, ...overrides.parameters },
      credentials: { password, ...overrides.credentials },
      timeoutMs: overrides.timeoutMs,
    });

  beforeAll(async () => {
    server = await startPasswordRedis(password);
    const admin = new Redis({ host: '127.0.0.1', port: server.port, password, lazyConnect: true });
    await admin.connect();
    serverVersion = /redis_version:(\S+)/.exec(await admin.info('server'))![1];
    await admin.call('ACL', 'SETUSER', aclUser, 'on', `>${aclPassword}`, '~*', '+@all');
    await admin.call('ACL', 'SETUSER', pingOnlyUser, 'on', `>${aclPassword}`, '-@all', '+ping');
    admin.disconnect();
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('reports healthy with the server version and PONG for the right password', async () => {
    const { outcome, json } = await withPassword();
    expect(outcome).toEqual({ status: 'healthy', error: null, details: { serverVersion, pong: 'PONG' } });
    expect(json).not.toContain(password);
  });

  it('reports AUTH_FAILED for a wrong password without echoing it', async () => {
    const { outcome, json } = await withPassword({ credentials: { password: wrongPassword } });
    expect(outcome.error).toEqual({ code: 'AUTH_FAILED', message: 'authentication failed for the default user' });
    expect(json).not.toContain(wrongPassword);
  });

  it('authenticates an ACL user by name and password', async () => {
    const { outcome, json } = await withPassword({ credentials: { username: aclUser, password: aclPassword } });
    expect(outcome.status).toBe('healthy');
    expect(json).not.toContain(aclPassword);
  });

  it('reports AUTH_FAILED for an ACL user with a wrong password, naming the user', async () => {
    const { outcome, json } = await withPassword({ credentials: { username: aclUser, password: wrongPassword } });
    expect(outcome.error).toEqual({ code: 'AUTH_FAILED', message: `authentication failed for user ${aclUser}` });
    expect(json).not.toContain(wrongPassword);
  });

  it('reports AUTH_FAILED for NONE against a server that requires a password', async () => {
    const { outcome } = await runCheck(redisConnector, { authMethod: 'NONE', parameters: { host: '127.0.0.1', port: server.port } });
    expect(outcome.error).toEqual({ code: 'AUTH_FAILED', message: `127.0.0.1:${server.port} requires a password` });
  });

  it('reports healthy for NONE against a server without a password', async () => {
    const { outcome } = await runCheck(redisConnector, { authMethod: 'NONE', parameters: { host: '127.0.0.1', port: OPEN_REDIS_PORT } });
    expect(outcome).toMatchObject({ status: 'healthy', details: { pong: 'PONG' } });
    expect(outcome.details.serverVersion).toMatch(/^\d+\.\d+/);
  });

  it('reports UPSTREAM_ERROR for a database number the server does not have', async () => {
    const { outcome } = await withPassword({ parameters: { db: 100_000 } });
    expect(outcome.error?.code).toBe('UPSTREAM_ERROR');
  });

  it('reports TLS_ERROR with tls on when the certificate is self-signed, before sending the password', async () => {
    const tlsServer = await startPasswordRedis(password, { tls: true });
    try {
      const { outcome, json } = await withPassword({ parameters: { port: tlsServer.port, tls: true } });
      expect(outcome.error?.code).toBe('TLS_ERROR');
      expect(json).not.toContain(password);
    } finally {
      await tlsServer.stop();
    }
  });

  it('reports healthy without a server version for an ACL user allowed only PING', async () => {
    const { outcome } = await withPassword({ credentials: { username: pingOnlyUser, password: aclPassword } });
    expect(outcome).toEqual({ status: 'healthy', error: null, details: { serverVersion: null, pong: 'PONG' } });
  });

  it('reports CONFIG_INVALID when USER_PASSWORD has no password', async () => {
    const { outcome } = await withPassword({ credentials: { password: '' } });
    expect(outcome.error).toEqual({ code: 'CONFIG_INVALID', message: 'credential "password" is required' });
  });

  it('reports UNREACHABLE for a closed port', async () => {
    const { outcome } = await withPassword({ parameters: { port: await closedPort() } });
    expect(outcome.error?.code).toBe('UNREACHABLE');
  });

  it('reports BLOCKED_DESTINATION for 127.0.0.2 without dialling it', async () => {
    const canary = await startCanary('127.0.0.2');
    try {
      const { outcome } = await withPassword({ parameters: { host: '127.0.0.2', port: canary.port } });
      expect(outcome.error?.code).toBe('BLOCKED_DESTINATION');
      expect(canary.connections()).toBe(0);
    } finally {
      await canary.close();
    }
  });

  it('reports TIMEOUT within 2 s against a server that never speaks, and closes its socket', async () => {
    const silent = await startSilentServer();
    try {
      const { outcome, elapsedMs } = await withPassword({ parameters: { port: silent.port }, timeoutMs: 500 });
      expect(outcome.error?.code).toBe('TIMEOUT');
      expect(elapsedMs).toBeLessThan(2000);
      expect(silent.accepted()).toBe(1);
      await within(silent.allClosed(), 1000, 'the client closing its socket');
    } finally {
      await silent.close();
    }
  });
});
