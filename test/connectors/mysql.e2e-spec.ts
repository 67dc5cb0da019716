import { randomBytes } from 'node:crypto';
import { createConnection, type Connection } from 'mysql2/promise';
import { mysqlConnector } from '../../src/connectors/definitions/mysql.connector';
import { runCheck } from './support/check-context';
import { closedPort, startCanary, startSilentServer, within } from './support/sockets';

const secret = () => `pw-${randomBytes(12).toString('hex')}`;
/** The accounts a test user needs to log in from 127.0.0.1, whatever the server's name resolution says. */
const HOSTS = ['%', 'localhost', '127.0.0.1'];

describe('mysql connector (real MariaDB)', () => {
  let admin: Connection;
  let serverVersion: string;
  const user = `sb_test_${randomBytes(4).toString('hex')}`;
  const password = secret();
  const wrongPassword = secret();
  const database = `sb_test_db_${randomBytes(4).toString('hex')}`;

  const userPassword = (overrides: { parameters?: Record<string, unknown>; credentials?: Record<string, unknown>; timeoutMs?: number } = {}) =>
    runCheck(mysqlConnector, {
      authMethod: 'USER_PASSWORD',
      parameters: { host: '127.0.0.1', port: 3306, ...overrides.parameters },
      credentials: { username: user, password, ...overrides.credentials },
      timeoutMs: overrides.timeoutMs,
    });
  const connectionString = (value: string, parameters: Record<string, unknown> = {}) =>
    runCheck(mysqlConnector, { authMethod: 'CONNECTION_STRING', parameters, credentials: { connectionString: value } });

  beforeAll(async () => {
    admin = await createConnection({ host: '127.0.0.1', port: 3306, user: 'root', password: '' });
    await admin.query(`CREATE DATABASE ${database}`);
    for (const host of HOSTS) {
      await admin.query('CREATE USER ?@? IDENTIFIED BY ?', [user, host, password]);
      await admin.query(`GRANT ALL ON ${database}.* TO ?@?`, [user, host]);
    }
    const [rows] = await admin.query<Array<{ version: string } & import('mysql2').RowDataPacket>>('SELECT VERSION() AS version');
    serverVersion = rows[0].version;
  });

  afterAll(async () => {
    if (!admin) return;
    for (const host of HOSTS) await admin.query('DROP USER IF EXISTS ?@?', [user, host]);
    await admin.query(`DROP DATABASE IF EXISTS ${database}`);
    await admin.end();
  });

  it('reports healthy with the server version and login for the right password', async () => {
    const { outcome, json } = await userPassword({ parameters: { database } });
    expect(outcome).toEqual({ status: 'healthy', error: null, details: { serverVersion, user } });
    expect(json).not.toContain(password);
  });

  it('reports AUTH_FAILED for a wrong password without echoing it', async () => {
    const { outcome, json } = await userPassword({ credentials: { password: wrongPassword } });
    expect(outcome.error).toEqual({ code: 'AUTH_FAILED', message: `authentication failed for user ${user}` });
    expect(json).not.toContain(wrongPassword);
  });

  it('logs in with a CONNECTION_STRING, taking the user from it', async () => {
    const { outcome, json } = await connectionString(`mysql://${user}:${password}@127.0.0.1:3306/${database}`);
    expect(outcome).toEqual({ status: 'healthy', error: null, details: { serverVersion, user } });
    expect(json).not.toContain(password);
  });

  it('reports AUTH_FAILED for a CONNECTION_STRING with a wrong password, echoing neither it nor the string', async () => {
    const value = `mysql://${user}:${wrongPassword}@127.0.0.1:3306/${database}`;
    const { outcome, json } = await connectionString(value);
    expect(outcome.error?.code).toBe('AUTH_FAILED');
    expect(json).not.toContain(wrongPassword);
    expect(json).not.toContain(value);
  });

  it('lets the CONNECTION_STRING host and port win over the parameters', async () => {
    const { outcome } = await connectionString(`mysql://${user}:${password}@127.0.0.1:3306`, { host: '127.0.0.2', port: 1 });
    expect(outcome.status).toBe('healthy');
  });

  it('checks the CONNECTION_STRING host against the outbound policy and never dials a blocked one', async () => {
    const canary = await startCanary('127.0.0.2');
    try {
      const { outcome, json } = await connectionString(`mysql://${user}:${password}@127.0.0.2:${canary.port}`, { host: '127.0.0.1', port: 3306 });
      expect(outcome.error?.code).toBe('BLOCKED_DESTINATION');
      expect(json).not.toContain(password);
      expect(canary.connections()).toBe(0);
    } finally {
      await canary.close();
    }
  });

  it('reports CONFIG_INVALID for a connection string of another scheme', async () => {
    const { outcome, json } = await connectionString(`postgresql://${user}:${wrongPassword}@127.0.0.1:3306`);
    expect(outcome.error?.code).toBe('CONFIG_INVALID');
    expect(json).not.toContain(wrongPassword);
  });

  it('reports TLS_ERROR with sslMode require against a server without TLS', async () => {
    const { outcome, json } = await userPassword({ parameters: { sslMode: 'require' } });
    expect(outcome.error?.code).toBe('TLS_ERROR');
    expect(json).not.toContain(password);
  });

  it('reports UPSTREAM_ERROR for a database that does not exist', async () => {
    for (const host of HOSTS) await admin.query('GRANT ALL ON `sb_missing_%`.* TO ?@?', [user, host]);
    const { outcome } = await userPassword({ parameters: { database: 'sb_missing_db' } });
    expect(outcome.error).toEqual({ code: 'UPSTREAM_ERROR', message: 'database sb_missing_db does not exist' });
  });

  it('reports AUTH_FAILED for a database the user may not use', async () => {
    const { outcome } = await userPassword({ parameters: { database: 'mysql' } });
    expect(outcome.error?.code).toBe('AUTH_FAILED');
  });

  it('reports CONFIG_INVALID when the user name is missing', async () => {
    const { outcome } = await userPassword({ credentials: { username: '' } });
    expect(outcome.error).toEqual({ code: 'CONFIG_INVALID', message: 'credential "username" is required' });
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
