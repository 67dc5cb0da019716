import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Client } from 'pg';
import { postgresqlConnector } from '../../src/connectors/definitions/postgresql.connector';
import { runCheck } from './support/check-context';
import { startScramPostgres, type ScramPostgres } from './support/scram-postgres';
import { closeServer, closedPort, listen, startCanary, startSilentServer, within } from './support/sockets';

const secret = () => `pw-${randomBytes(12).toString('hex')}`;

describe('postgresql connector (real PostgreSQL with scram-sha-256)', () => {
  let server: ScramPostgres;
  const role = `sb_check_${randomBytes(4).toString('hex')}`;
  const rolePassword = secret();
  const wrongPassword = secret();

  const userPassword = (overrides: { parameters?: Record<string, unknown>; credentials?: Record<string, unknown>; timeoutMs?: number } = {}) =>
    runCheck(postgresqlConnector, {
      authMethod: 'USER_PASSWORD',
      parameters: { host: '127.0.0.1', port: server.port, ...overrides.parameters },
      credentials: { username: role, password: rolePassword, ...overrides.credentials },
      timeoutMs: overrides.timeoutMs,
    });
  const connectionString = (value: string, parameters: Record<string, unknown> = {}) =>
    runCheck(postgresqlConnector, { authMethod: 'CONNECTION_STRING', parameters, credentials: { connectionString: value } });

  beforeAll(async () => {
    server = await startScramPostgres(secret());
    const admin = new Client({ host: '127.0.0.1', port: server.port, user: server.superuser, password: server.superuserPassword, database: 'postgres' });
    await admin.connect();
    await admin.query(`CREATE ROLE ${role} WITH LOGIN PASSWORD '${rolePassword}'`);
    await admin.end();
  }, 60_000);

  afterAll(async () => {
    if (!server) return;
    const admin = new Client({ host: '127.0.0.1', port: server.port, user: server.superuser, password: server.superuserPassword, database: 'postgres' });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await admin.end();
    await server.stop();
  }, 30_000);

  it('reports healthy with the server version, login and database for the right password', async () => {
    const { outcome, json } = await userPassword();
    expect(outcome).toEqual({
      status: 'healthy',
      error: null,
      details: { serverVersion: server.version, user: role, database: 'postgres' },
    });
    expect(json).not.toContain(rolePassword);
  });

  it('reports AUTH_FAILED for a wrong password without echoing it', async () => {
    const { outcome, json } = await userPassword({ credentials: { password: wrongPassword } });
    expect(outcome.status).toBe('unhealthy');
    expect(outcome.error).toEqual({ code: 'AUTH_FAILED', message: `authentication failed for user ${role}` });
    expect(json).not.toContain(wrongPassword);
  });

  it('logs in with a CONNECTION_STRING, taking the user from it', async () => {
    const { outcome, json } = await connectionString(`postgresql://${role}:${rolePassword}@127.0.0.1:${server.port}/postgres`);
    expect(outcome).toMatchObject({ status: 'healthy', details: { serverVersion: server.version, user: role, database: 'postgres' } });
    expect(json).not.toContain(rolePassword);
  });

  it('reports AUTH_FAILED for a CONNECTION_STRING with a wrong password, echoing neither it nor the string', async () => {
    const value = `postgresql://${role}:${wrongPassword}@127.0.0.1:${server.port}/postgres`;
    const { outcome, json } = await connectionString(value);
    expect(outcome.error?.code).toBe('AUTH_FAILED');
    expect(json).not.toContain(wrongPassword);
    expect(json).not.toContain(value);
  });

  it('lets the CONNECTION_STRING host and port win over the parameters', async () => {
    const { outcome } = await connectionString(`postgresql://${role}:${rolePassword}@127.0.0.1:${server.port}/postgres`, {
      host: '127.0.0.2',
      port: 1,
    });
    expect(outcome.status).toBe('healthy');
  });

  it('checks the CONNECTION_STRING host against the outbound policy and never dials a blocked one', async () => {
    const canary = await startCanary('127.0.0.2');
    try {
      const { outcome, json } = await connectionString(`postgresql://${role}:${rolePassword}@127.0.0.2:${canary.port}/postgres`, {
        host: '127.0.0.1',
        port: server.port,
      });
      expect(outcome.error?.code).toBe('BLOCKED_DESTINATION');
      expect(json).not.toContain(rolePassword);
      expect(canary.connections()).toBe(0);
    } finally {
      await canary.close();
    }
  });

  it('refuses connection string options that would read local files', async () => {
    const { outcome } = await connectionString(`postgresql://${role}:${rolePassword}@127.0.0.1:${server.port}/postgres?ssl%72ootcert=/etc/passwd`);
    expect(outcome.error?.code).toBe('CONFIG_INVALID');
  });

  it('reports CONFIG_INVALID for a connection string it cannot parse, without echoing it', async () => {
    const value = `postgresql://${role}:${wrongPassword}@[::1`;
    const { outcome, json } = await connectionString(value);
    expect(outcome.error?.code).toBe('CONFIG_INVALID');
    expect(json).not.toContain(wrongPassword);
  });

  it('logs in over TLS with sslMode require', async () => {
    const { outcome } = await userPassword({ parameters: { sslMode: 'require' } });
    expect(outcome.status).toBe('healthy');
  });

  it('reports TLS_ERROR with sslMode verify-full when the certificate is self-signed', async () => {
    const { outcome, json } = await userPassword({ parameters: { sslMode: 'verify-full' } });
    expect(outcome.error?.code).toBe('TLS_ERROR');
    expect(json).not.toContain(rolePassword);
  });

  it('reports TLS_ERROR with sslMode require against a server that declines TLS', async () => {
    // Answers the SSLRequest the way a server without TLS does: a single 'N'.
    const noTls = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => socket.write('N'));
    });
    const port = await listen(noTls, 0, '127.0.0.1');
    try {
      const { outcome, json } = await userPassword({ parameters: { port, sslMode: 'require' } });
      expect(outcome.error?.code).toBe('TLS_ERROR');
      expect(json).not.toContain(rolePassword);
    } finally {
      await closeServer(noTls);
    }
  });

  it('reports UPSTREAM_ERROR for a database that does not exist', async () => {
    const { outcome } = await userPassword({ parameters: { database: 'no_such_database' } });
    expect(outcome.error).toEqual({ code: 'UPSTREAM_ERROR', message: 'database no_such_database does not exist' });
  });

  it('reports CONFIG_INVALID when the password is missing', async () => {
    const { outcome } = await userPassword({ credentials: { password: undefined } });
    expect(outcome.error).toEqual({ code: 'CONFIG_INVALID', message: 'credential "password" is required' });
  });

  it('reports UNREACHABLE for a closed port', async () => {
    const { outcome } = await userPassword({ parameters: { port: await closedPort() } });
    expect(outcome.error?.code).toBe('UNREACHABLE');
  });

  it('reports BLOCKED_DESTINATION for 127.0.0.2 without dialling it', async () => {
    const canary = await startCanary('127.0.0.2');
    try {
      const { outcome } = await userPassword({ parameters: { host: '127.0.0.2', port: canary.port } });
      expect(outcome.error?.code).toBe('BLOCKED_DESTINATION');
      expect(canary.connections()).toBe(0);
    } finally {
      await canary.close();
    }
  });

  it('reports TIMEOUT within 2 s against a server that never speaks, and closes its socket', async () => {
    const silent = await startSilentServer();
    try {
      const { outcome, elapsedMs } = await userPassword({ parameters: { port: silent.port }, timeoutMs: 500 });
      expect(outcome.error?.code).toBe('TIMEOUT');
      expect(elapsedMs).toBeLessThan(2000);
      expect(silent.accepted()).toBe(1);
      await within(silent.allClosed(), 1000, 'the client closing its socket');
    } finally {
      await silent.close();
    }
  });
});
