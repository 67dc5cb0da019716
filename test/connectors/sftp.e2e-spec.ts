import { randomBytes } from 'node:crypto';
import { utils } from 'ssh2';
import { sftpConnector } from '../../src/connectors/definitions/sftp.connector';
import { runCheck } from './support/check-context';
import { startSftpServer, type FakeSftpServer } from './support/sftp-server';
import { closedPort, startCanary, startSilentServer, within } from './support/sockets';

const secret = () => `pw-${randomBytes(12).toString('hex')}`;

describe('sftp connector (in-process SSH server)', () => {
  let server: FakeSftpServer;
  const username = 'sb-sftp';
  const password = secret();
  const wrongPassword = secret();
  const passphrase = secret();
  const clientKey = utils.generateKeyPairSync('ed25519');
  const encryptedClientKey = utils.generateKeyPairSync('ed25519', { passphrase, cipher: 'aes256-ctr', rounds: 4 });
  const strangerKey = utils.generateKeyPairSync('ed25519');
  const keyBody = (pem: string) => pem.split('\n').slice(1, -2).join('');

  const withPassword = (overrides: { parameters?: Record<string, unknown>; credentials?: Record<string, unknown>; timeoutMs?: number; knownHostKey?: string } = {}) =>
    runCheck(sftpConnector, {
      authMethod: 'USER_PASSWORD',
      parameters: { host: '127.0.0.1', port: server.port, path: '/upload', ...overrides.parameters },
      credentials: { username, password, ...overrides.credentials },
      timeoutMs: overrides.timeoutMs,
      knownHostKey: overrides.knownHostKey,
    });
  const withKey = (credentials: Record<string, unknown>) =>
    runCheck(sftpConnector, {
      authMethod: 'KEY_FILE',
      parameters: { host: '127.0.0.1', port: server.port, path: '/upload' },
      credentials: { username, ...credentials },
    });

  beforeAll(async () => {
    server = await startSftpServer({
      username,
      password,
      authorizedKeys: [clientKey.public, encryptedClientKey.public],
      directories: { '/upload': ['a.csv', 'b.csv', 'c.csv'], '/': ['upload'] },
    });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('reports healthy with the host key fingerprint and entry count for the right password', async () => {
    const { outcome, json } = await withPassword();
    expect(outcome).toEqual({
      status: 'healthy',
      error: null,
      details: { hostKeyFingerprint: server.hostKeyFingerprint, entries: 3 },
    });
    expect(json).not.toContain(password);
  });

  it('lists / by default', async () => {
    const { outcome } = await withPassword({ parameters: { path: undefined } });
    expect(outcome.details).toMatchObject({ entries: 1 });
  });

  it('reports AUTH_FAILED for a wrong password without echoing it', async () => {
    const { outcome, json } = await withPassword({ credentials: { password: wrongPassword } });
    expect(outcome.error).toEqual({ code: 'AUTH_FAILED', message: `authentication failed for user ${username}` });
    expect(json).not.toContain(wrongPassword);
  });

  it('logs in with an authorized private key', async () => {
    const { outcome, json } = await withKey({ privateKey: clientKey.private });
    expect(outcome).toMatchObject({ status: 'healthy', details: { entries: 3 } });
    expect(json).not.toContain(keyBody(clientKey.private));
  });

  it('logs in with an encrypted private key and its passphrase', async () => {
    const { outcome, json } = await withKey({ privateKey: encryptedClientKey.private, passphrase });
    expect(outcome).toMatchObject({ status: 'healthy', details: { entries: 3 } });
    expect(json).not.toContain(passphrase);
  });

  it('reports AUTH_FAILED for a key the server does not authorize, without echoing it', async () => {
    const { outcome, json } = await withKey({ privateKey: strangerKey.private });
    expect(outcome.error).toEqual({ code: 'AUTH_FAILED', message: `authentication failed for user ${username}` });
    expect(json).not.toContain(keyBody(strangerKey.private));
  });

  it('reports CONFIG_INVALID for an encrypted key with a wrong passphrase, before connecting', async () => {
    const before = server.authAttempts();
    const { outcome, json } = await withKey({ privateKey: encryptedClientKey.private, passphrase: wrongPassword });
    expect(outcome.error?.code).toBe('CONFIG_INVALID');
    expect(json).not.toContain(wrongPassword);
    expect(server.authAttempts()).toBe(before);
  });

  it('reports CONFIG_INVALID for a public key given as the private key', async () => {
    const { outcome } = await withKey({ privateKey: clientKey.public });
    expect(outcome.error?.code).toBe('CONFIG_INVALID');
  });

  it('reports CONFIG_INVALID for text that is not a private key, without echoing it', async () => {
    const garbage = `-----BEGIN OPENSSH PRIVATE KEY-----\n${randomBytes(48).toString('base64')}\n-----END OPENSSH PRIVATE KEY-----\n`;
    const { outcome, json } = await withKey({ privateKey: garbage });
    expect(outcome.error?.code).toBe('CONFIG_INVALID');
    expect(json).not.toContain(garbage.split('\n')[1]);
  });

  it('reports healthy when the host key matches the pinned fingerprint', async () => {
    const { outcome } = await withPassword({ knownHostKey: server.hostKeyFingerprint });
    expect(outcome.status).toBe('healthy');
  });

  it('reports TLS_ERROR for a changed host key and never offers the server any credentials', async () => {
    const pinned = `SHA256:${randomBytes(32).toString('base64').replace(/=+$/, '')}`;
    const before = server.authAttempts();
    const { outcome, json } = await withPassword({ knownHostKey: pinned });
    expect(outcome.status).toBe('unhealthy');
    expect(outcome.error).toEqual({
      code: 'TLS_ERROR',
      message: `host key changed (expected ${pinned}, got ${server.hostKeyFingerprint})`,
    });
    expect(outcome.details.hostKeyFingerprint).toBeUndefined();
    expect(server.authAttempts()).toBe(before);
    expect(json).not.toContain(password);
  });

  it('reports UPSTREAM_ERROR for a path that does not exist', async () => {
    const { outcome } = await withPassword({ parameters: { path: '/missing' } });
    expect(outcome.error).toEqual({ code: 'UPSTREAM_ERROR', message: 'path /missing does not exist' });
  });

  it('reports CONFIG_INVALID when the password is missing', async () => {
    const { outcome } = await withPassword({ credentials: { password: undefined } });
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
