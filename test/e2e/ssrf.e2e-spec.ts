import { createServer, type Server } from 'node:http';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { FakeUpstream } from '../connectors/support/fake-upstream';
import { closeServer, listen, startCanary, type Canary } from '../connectors/support/sockets';
import { startTestApp } from '../support/test-app';
import { TenantClient, type IntegrationBody } from './verification-support';

const API_KEY = 'sk_ssrf_3e9c7a1f5b2d';
const PASSWORD = 'pw_ssrf_8d2b6f0a4c1e';

/**
 * The outbound policy through the API with OUTBOUND_ALLOWED_HOSTS=127.0.0.1 (the test
 * app's default) and OUTBOUND_ALLOW_PRIVATE unset: 127.0.0.2 stands for every
 * destination a tenant must not reach, and a canary listening there proves that no
 * spelling of it was ever dialled.
 */
describe('SSRF policy through the API', () => {
  let app: NestFastifyApplication;
  let client: TenantClient;
  let canary: Canary;
  let fake: FakeUpstream;

  beforeAll(async () => {
    ({ app } = await startTestApp({ OUTBOUND_ALLOWED_HOSTS: '127.0.0.1' }));
    client = await TenantClient.create(app, 'ssrf');
    canary = await startCanary('127.0.0.2');
    fake = await FakeUpstream.start();
  });

  afterAll(async () => {
    await fake?.close();
    await canary?.close();
    await app?.close();
  });

  const httpTo = (baseUrl: string): IntegrationBody => ({ connector: 'http', parameters: { baseUrl }, authMethod: 'API_KEY', credentials: { apiKey: API_KEY } });

  /** Stored and verified, and tested as a body: both must be refused before any connection. */
  async function expectBlocked(body: IntegrationBody): Promise<void> {
    const stored = await client.createAndVerify(body);
    expect(stored).toMatchObject({ status: 'unhealthy', error: { code: 'BLOCKED_DESTINATION' } });
    expect(JSON.stringify(stored)).not.toContain(API_KEY);
    const read = (await client.getIntegrationRaw(stored.id)).json<{ health: { status: string; lastError: { code: string } } }>();
    expect(read.health).toMatchObject({ status: 'unhealthy', lastError: { code: 'BLOCKED_DESTINATION' } });

    const { reply } = await client.testConfig(body);
    expect(reply).toMatchObject({ status: 'unhealthy', error: { code: 'BLOCKED_DESTINATION' } });
  }

  describe('every spelling of a blocked address is BLOCKED_DESTINATION', () => {
    it('http://127.0.0.2', async () => {
      await expectBlocked(httpTo(`http://127.0.0.2:${canary.port}`));
    });

    it('http://[::ffff:127.0.0.2] (IPv4-mapped IPv6)', async () => {
      await expectBlocked(httpTo(`http://[::ffff:127.0.0.2]:${canary.port}`));
    });

    it('http://2130706434 (one decimal number)', async () => {
      await expectBlocked(httpTo(`http://2130706434:${canary.port}`));
    });

    it('http://0x7f000002 (one hex number)', async () => {
      await expectBlocked(httpTo(`http://0x7f000002:${canary.port}`));
    });

    it('http://127.2 (short form)', async () => {
      await expectBlocked(httpTo(`http://127.2:${canary.port}`));
    });

    it('http://[::1] and http://0.0.0.0', async () => {
      await expectBlocked(httpTo(`http://[::1]:${canary.port}`));
      await expectBlocked(httpTo(`http://0.0.0.0:${canary.port}`));
    });

    it('http://localhost (its ::1 is not on the allow list)', async () => {
      await expectBlocked(httpTo(`http://localhost:${canary.port}`));
    });

    it('a redirect from the allowed 127.0.0.1 to 127.0.0.2, and the key never leaves', async () => {
      fake.on('GET', '/hop', { status: 302, headers: { Location: `http://127.0.0.2:${canary.port}/metadata` } });
      await expectBlocked({ ...httpTo(fake.url), parameters: { baseUrl: fake.url, testPath: '/hop' } });
      expect(fake.requestsTo('/hop').length).toBeGreaterThan(0);
    });

    it('an OAuth2 tokenUrl on 127.0.0.2, before the client secret is sent anywhere', async () => {
      fake.on('GET', '/', { body: {} });
      await expectBlocked({
        connector: 'http',
        parameters: { baseUrl: fake.url, tokenUrl: `http://127.0.0.2:${canary.port}/token` },
        authMethod: 'OAUTH2_CLIENT_CREDENTIALS',
        credentials: { clientId: 'client', clientSecret: PASSWORD },
      });
      expect(fake.requestsTo('/')).toHaveLength(0);
    });

    it('a preset whose baseUrl is overridden to 127.0.0.2', async () => {
      await expectBlocked({ connector: 'github', parameters: { baseUrl: `http://127.0.0.2:${canary.port}` }, authMethod: 'pat', credentials: { token: 'ghp_ssrf' } });
    });

    it('a postgresql host of 127.0.0.2, in the parameters and in a connection string', async () => {
      await expectBlocked({ connector: 'postgresql', parameters: { host: '127.0.0.2', port: canary.port }, authMethod: 'USER_PASSWORD', credentials: { username: 'u', password: PASSWORD } });
      await expectBlocked({
        connector: 'postgresql',
        parameters: { host: '127.0.0.1' },
        authMethod: 'CONNECTION_STRING',
        credentials: { connectionString: `postgresql://u:${PASSWORD}@127.0.0.2:${canary.port}/postgres` },
      });
    });

    it('a mysql host of 127.0.0.2', async () => {
      await expectBlocked({ connector: 'mysql', parameters: { host: '127.0.0.2', port: canary.port }, authMethod: 'USER_PASSWORD', credentials: { username: 'u', password: PASSWORD } });
    });

    it('a redis host of 127.0.0.2', async () => {
      await expectBlocked({ connector: 'redis', parameters: { host: '127.0.0.2', port: canary.port }, authMethod: 'USER_PASSWORD', credentials: { password: PASSWORD } });
      await expectBlocked({ connector: 'redis', parameters: { host: '0x7f000002', port: canary.port }, authMethod: 'NONE' });
    });

    it('an sftp host of 127.0.0.2', async () => {
      await expectBlocked({ connector: 'sftp', parameters: { host: '127.0.0.2', port: canary.port }, authMethod: 'USER_PASSWORD', credentials: { username: 'u', password: PASSWORD } });
      await expectBlocked({ connector: 'sftp', parameters: { host: '::ffff:127.0.0.2', port: canary.port }, authMethod: 'USER_PASSWORD', credentials: { username: 'u', password: PASSWORD } });
    });
  });

  describe('redirects', () => {
    const chain = (name: string, hops: number) => {
      for (let i = 0; i < hops; i++) fake.on('GET', `/${name}/${i}`, { status: 302, headers: { Location: `/${name}/${i + 1}` } });
      fake.on('GET', `/${name}/${hops}`, { body: {} });
    };

    it('follows a chain of 5 redirects on the allowed host', async () => {
      chain('five', 5);
      const result = await client.createAndVerify({ ...httpTo(fake.url), parameters: { baseUrl: fake.url, testPath: '/five/0' } });
      expect(result).toMatchObject({ status: 'healthy', details: { httpStatus: 200, url: `${fake.url}/five/5` } });
    });

    it('answers UPSTREAM_ERROR "too many redirects" for a chain of 6', async () => {
      chain('six', 6);
      const result = await client.createAndVerify({ ...httpTo(fake.url), parameters: { baseUrl: fake.url, testPath: '/six/0' } });
      expect(result).toMatchObject({ status: 'unhealthy', error: { code: 'UPSTREAM_ERROR', message: 'too many redirects' } });
      expect(fake.requestsTo('/six/6')).toHaveLength(0);
    });
  });

  describe('afterwards', () => {
    it('the canary on 127.0.0.2 saw zero connections in all the cases above', () => {
      expect(canary.connections()).toBe(0);
    });
  });
});

describe('SSRF policy through the API with OUTBOUND_ALLOW_PRIVATE=true', () => {
  let app: NestFastifyApplication;
  let client: TenantClient;
  let upstream: Server;
  let port: number;
  const seen: string[] = [];

  beforeAll(async () => {
    ({ app } = await startTestApp({ OUTBOUND_ALLOW_PRIVATE: 'true', OUTBOUND_ALLOWED_HOSTS: '' }));
    client = await TenantClient.create(app, 'private');
    upstream = createServer((req, res) => {
      seen.push(String(req.headers['x-api-key']));
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
    port = await listen(upstream as unknown as import('node:net').Server, 0, '127.0.0.2');
  });

  afterAll(async () => {
    upstream?.closeAllConnections();
    if (upstream) await closeServer(upstream as unknown as import('node:net').Server);
    await app?.close();
  });

  it('allows 127.0.0.2', async () => {
    const result = await client.createAndVerify({ connector: 'http', parameters: { baseUrl: `http://127.0.0.2:${port}` }, authMethod: 'API_KEY', credentials: { apiKey: API_KEY } });

    expect(result).toMatchObject({ status: 'healthy', error: null, details: { httpStatus: 200 } });
    expect(seen).toEqual([API_KEY]);
  });
});
