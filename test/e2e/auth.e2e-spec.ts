import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { sign } from 'jsonwebtoken';
import { startTestApp, uniqueId } from '../support/test-app';
import { bearer, mintToken, TEST_JWT_SECRET } from '../support/tokens';

type Reply = Awaited<ReturnType<NestFastifyApplication['inject']>>;

const b64url = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

/** A JWT assembled by hand, so the header can say anything (alg none, jku, ...). */
function rawJwt(header: Record<string, unknown>, payload: Record<string, unknown>, secret: string | Buffer | null): string {
  const signingInput = `${b64url(header)}.${b64url(payload)}`;
  const signature = secret === null ? '' : createHmac('sha256', secret).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

function expectUnauthorized(res: Reply): void {
  expect(res.statusCode).toBe(401);
  expect(res.headers['www-authenticate']).toMatch(/^Bearer\b/);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json();
  expect(body).toMatchObject({ status: 401, title: 'Unauthorized', instance: expect.any(String), type: expect.any(String), detail: expect.any(String) });
  expect(body.requestId).toBe(res.headers['x-request-id']);
}

function expectForbidden(res: Reply): void {
  expect(res.statusCode).toBe(403);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.json()).toMatchObject({ status: 403, requestId: res.headers['x-request-id'] });
}

async function createTenant(app: NestFastifyApplication, id: string): Promise<void> {
  const res = await app.inject({
    method: 'POST',
    url: '/v1/tenants',
    headers: bearer(mintToken({ sub: 'root', roles: ['platform-admin'] })),
    payload: { id, displayName: `Tenant ${id}` },
  });
  expect(res.statusCode).toBe(201);
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function close(server: Server): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

describe('authentication with the shared secret (HS256)', () => {
  let app: NestFastifyApplication;
  const tenant = uniqueId('auth');
  const get = (headers: Record<string, string> = {}) => app.inject({ method: 'GET', url: `/v1/tenants/${tenant}`, headers });

  beforeAll(async () => {
    ({ app } = await startTestApp());
    await createTenant(app, tenant);
  });
  afterAll(async () => {
    await app.close();
  });

  it('accepts a valid token of a member of the tenant', async () => {
    const res = await get(bearer(mintToken({ tenant, roles: ['viewer'] })));
    expect(res.statusCode).toBe(200);
    expect(res.json().id).toBe(tenant);
  });

  it('answers 401 with a Bearer challenge without an error code when no token is sent', async () => {
    const res = await get();
    expectUnauthorized(res);
    expect(res.headers['www-authenticate']).not.toContain('error=');
    expect(res.json().detail).toMatch(/Bearer token is required/);
  });

  it('answers 401 for an Authorization header that is not a Bearer token', async () => {
    expectUnauthorized(await get({ authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}` }));
  });

  it.each([
    ['garbage', 'not-a-jwt'],
    ['two segments', 'abc.def'],
    ['undecodable header', '!!!.e30.c2ln'],
    ['JSON that is not an object', `${b64url('"x"')}.${b64url('1')}.sig`],
  ])('answers 401 invalid_token for a malformed token (%s)', async (_, token) => {
    const res = await get(bearer(token));
    expectUnauthorized(res);
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('rejects an unsigned token (alg none), with or without a trailing signature', async () => {
    const payload = { sub: 'mallory', tenant_id: tenant, roles: ['admin'], exp: now() + 600 };
    expectUnauthorized(await get(bearer(rawJwt({ alg: 'none', typ: 'JWT' }, payload, null))));
    expectUnauthorized(await get(bearer(rawJwt({ alg: 'none', typ: 'JWT' }, payload, TEST_JWT_SECRET))));
    expectUnauthorized(await get(bearer(rawJwt({ alg: 'None', typ: 'JWT' }, payload, null))));
  });

  it('rejects an HS256 token signed with another secret', async () => {
    expectUnauthorized(await get(bearer(mintToken({ tenant, roles: ['admin'] }, {}, 'another-secret-that-is-also-long-enough-0123'))));
  });

  it('rejects an HS512 token even when signed with the right secret (algorithm allow-list)', async () => {
    const token = sign({ tenant_id: tenant, roles: ['admin'] }, TEST_JWT_SECRET, { algorithm: 'HS512', subject: 'alice', expiresIn: '10m' });
    expectUnauthorized(await get(bearer(token)));
  });

  it('rejects a token that expired beyond the clock skew, and says so', async () => {
    const token = sign({ sub: 'alice', tenant_id: tenant, roles: ['admin'], iat: now() - 120, exp: now() - 60 }, TEST_JWT_SECRET, { algorithm: 'HS256' });
    const res = await get(bearer(token));
    expectUnauthorized(res);
    expect(res.json().detail).toMatch(/expired/);
  });

  it('tolerates a token that expired within the 30 s clock skew', async () => {
    const token = sign({ sub: 'alice', tenant_id: tenant, roles: ['viewer'], iat: now() - 120, exp: now() - 10 }, TEST_JWT_SECRET, { algorithm: 'HS256' });
    expect((await get(bearer(token))).statusCode).toBe(200);
  });

  it('tolerates an nbf within the 30 s clock skew', async () => {
    expect((await get(bearer(mintToken({ tenant, roles: ['viewer'], nbf: now() + 10 })))).statusCode).toBe(200);
  });

  it('rejects a token whose nbf is in the future beyond the skew', async () => {
    const token = mintToken({ tenant, roles: ['admin'], nbf: now() + 300 });
    const res = await get(bearer(token));
    expectUnauthorized(res);
    expect(res.json().detail).toMatch(/not valid yet/);
  });

  it('rejects a token without exp (it would never expire)', async () => {
    const token = sign({ sub: 'alice', tenant_id: tenant, roles: ['viewer'] }, TEST_JWT_SECRET, { algorithm: 'HS256' });
    expectUnauthorized(await get(bearer(token)));
  });

  it('rejects a token without sub (401, not 403)', async () => {
    const token = sign({ tenant_id: tenant, roles: ['admin'] }, TEST_JWT_SECRET, { algorithm: 'HS256', expiresIn: '10m' });
    expectUnauthorized(await get(bearer(token)));
  });

  it('rejects a token whose sub is empty', async () => {
    const token = sign({ sub: '', tenant_id: tenant, roles: ['admin'] }, TEST_JWT_SECRET, { algorithm: 'HS256', expiresIn: '10m' });
    expectUnauthorized(await get(bearer(token)));
  });

  it('answers 403 for a valid token that carries no known role', async () => {
    const res = await get(bearer(mintToken({ tenant, roles: ['superuser', 'owner'] })));
    expectForbidden(res);
    expect(res.json().detail).toMatch(/no known role/);
    expectForbidden(await get(bearer(mintToken({ tenant, roles: [] }))));
  });

  it('accepts roles given as a space-separated string', async () => {
    expect((await get(bearer(mintToken({ tenant, roles: 'viewer' as unknown as string[] })))).statusCode).toBe(200);
  });

  it('rejects a token whose payload was edited after signing (the old signature kept)', async () => {
    const original = mintToken({ tenant, roles: ['viewer'] });
    expect((await get(bearer(original))).statusCode).toBe(200);
    const [header, payload, signature] = original.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const forged = `${header}.${b64url({ ...claims, roles: ['platform-admin'] })}.${signature}`;
    expectUnauthorized(await app.inject({ method: 'GET', url: '/v1/tenants', headers: bearer(forged) }));
  });

  it('ignores iss and aud when AUTH_ISSUER and AUTH_AUDIENCE are not set', async () => {
    const token = mintToken({ tenant, roles: ['viewer'] }, { issuer: 'anyone', audience: 'anything' });
    expect((await get(bearer(token))).statusCode).toBe(200);
  });

  it('lets public operations routes through without a token and ignores a bad one there', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/healthz', headers: bearer('garbage') })).statusCode).toBe(200);
  });
});

describe('authentication with AUTH_ISSUER and AUTH_AUDIENCE set', () => {
  let app: NestFastifyApplication;
  const tenant = uniqueId('issaud');
  const issuer = 'https://idp.example.test/';
  const audience = 'switchboard-api';
  const get = (token: string) => app.inject({ method: 'GET', url: `/v1/tenants/${tenant}`, headers: bearer(token) });

  beforeAll(async () => {
    ({ app } = await startTestApp({ AUTH_ISSUER: issuer, AUTH_AUDIENCE: audience }));
    await app.inject({
      method: 'POST',
      url: '/v1/tenants',
      headers: bearer(mintToken({ roles: ['platform-admin'] }, { issuer, audience })),
      payload: { id: tenant, displayName: 'Iss/Aud' },
    });
  });
  afterAll(async () => {
    await app.close();
  });

  it('accepts a token with the configured issuer and audience', async () => {
    expect((await get(mintToken({ tenant, roles: ['viewer'] }, { issuer, audience }))).statusCode).toBe(200);
  });

  it('rejects a token from another issuer', async () => {
    expectUnauthorized(await get(mintToken({ tenant, roles: ['viewer'] }, { issuer: 'https://evil.example.test/', audience })));
  });

  it('rejects a token for another audience', async () => {
    expectUnauthorized(await get(mintToken({ tenant, roles: ['viewer'] }, { issuer, audience: 'another-api' })));
  });

  it('rejects a token that carries neither iss nor aud', async () => {
    expectUnauthorized(await get(mintToken({ tenant, roles: ['viewer'] })));
  });
});

describe('configurable claim names (AUTH_TENANT_CLAIM=org, AUTH_ROLES_CLAIM=perms)', () => {
  let app: NestFastifyApplication;
  const tenant = uniqueId('claims');
  const get = (payload: Record<string, unknown>) =>
    app.inject({
      method: 'GET',
      url: `/v1/tenants/${tenant}`,
      headers: bearer(sign(payload, TEST_JWT_SECRET, { algorithm: 'HS256', subject: 'carol', expiresIn: '10m' })),
    });

  beforeAll(async () => {
    ({ app } = await startTestApp({ AUTH_TENANT_CLAIM: 'org', AUTH_ROLES_CLAIM: 'perms' }));
    const res = await app.inject({
      method: 'POST',
      url: '/v1/tenants',
      headers: bearer(sign({ perms: ['platform-admin'] }, TEST_JWT_SECRET, { algorithm: 'HS256', subject: 'root', expiresIn: '10m' })),
      payload: { id: tenant, displayName: 'Claims' },
    });
    expect(res.statusCode).toBe(201);
  });
  afterAll(async () => {
    await app.close();
  });

  it('reads the tenant and roles from the configured claims', async () => {
    expect((await get({ org: tenant, perms: ['viewer'] })).statusCode).toBe(200);
  });

  it('ignores the default claim names once others are configured', async () => {
    expectForbidden(await get({ tenant_id: tenant, roles: ['admin'] }));
    expectForbidden(await get({ org: tenant, roles: ['admin'] }));
    expectForbidden(await get({ tenant_id: tenant, perms: ['admin'] }));
  });
});

describe('authentication with a JWKS (RS256 / ES256)', () => {
  let app: NestFastifyApplication;
  let jwks: Server;
  let canary: Server;
  let jwksRequests = 0;
  let canaryRequests = 0;
  let canaryUrl = '';
  const tenant = uniqueId('jwks');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = (key: KeyObject, kid: string, alg: string) => ({ ...key.export({ format: 'jwk' }), kid, alg, use: 'sig' });

  const claims = (roles: string[], extra: Record<string, unknown> = {}) => ({ tenant_id: tenant, roles, ...extra });
  const get = (token: string) => app.inject({ method: 'GET', url: `/v1/tenants/${tenant}`, headers: bearer(token) });

  beforeAll(async () => {
    jwks = createServer((req, res) => {
      jwksRequests += 1;
      if (req.url !== '/jwks.json') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk(rsa.publicKey, 'rsa-1', 'RS256'), jwk(ec.publicKey, 'ec-1', 'ES256')] }));
    });
    canary = createServer((_req, res) => {
      canaryRequests += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk(attacker.publicKey, 'attacker-1', 'RS256')] }));
    });
    const jwksPort = await listen(jwks);
    canaryUrl = `http://127.0.0.1:${await listen(canary)}/jwks.json`;
    ({ app } = await startTestApp({ AUTH_JWT_SECRET: '', AUTH_JWKS_URL: `http://127.0.0.1:${jwksPort}/jwks.json` }));
    const created = await app.inject({
      method: 'POST',
      url: '/v1/tenants',
      headers: bearer(sign({ roles: ['platform-admin'] }, rsa.privateKey, { algorithm: 'RS256', keyid: 'rsa-1', subject: 'root', expiresIn: '10m' })),
      payload: { id: tenant, displayName: 'JWKS' },
    });
    expect(created.statusCode).toBe(201);
  });
  afterAll(async () => {
    await app.close();
    await close(jwks);
    await close(canary);
  });

  it('accepts an RS256 token whose kid is in the JWKS', async () => {
    const token = sign(claims(['viewer']), rsa.privateKey, { algorithm: 'RS256', keyid: 'rsa-1', subject: 'alice', expiresIn: '10m' });
    expect((await get(token)).statusCode).toBe(200);
  });

  it('accepts an ES256 token whose kid is in the JWKS', async () => {
    const token = sign(claims(['viewer']), ec.privateKey, { algorithm: 'ES256', keyid: 'ec-1', subject: 'alice', expiresIn: '10m' });
    expect((await get(token)).statusCode).toBe(200);
  });

  it('caches keys by kid instead of fetching the JWKS on every request', async () => {
    const token = sign(claims(['viewer']), rsa.privateKey, { algorithm: 'RS256', keyid: 'rsa-1', subject: 'alice', expiresIn: '10m' });
    expect((await get(token)).statusCode).toBe(200);
    const before = jwksRequests;
    for (let i = 0; i < 3; i++) expect((await get(token)).statusCode).toBe(200);
    expect(jwksRequests).toBe(before);
  });

  it('rejects a token whose kid is not in the JWKS', async () => {
    const token = sign(claims(['admin']), attacker.privateKey, { algorithm: 'RS256', keyid: 'unknown-kid', subject: 'mallory', expiresIn: '10m' });
    expectUnauthorized(await get(token));
  });

  it('rejects a token without a kid', async () => {
    const token = sign(claims(['admin']), rsa.privateKey, { algorithm: 'RS256', subject: 'alice', expiresIn: '10m' });
    expectUnauthorized(await get(token));
  });

  it('rejects a token signed by another key under a known kid', async () => {
    const token = sign(claims(['admin']), attacker.privateKey, { algorithm: 'RS256', keyid: 'rsa-1', subject: 'mallory', expiresIn: '10m' });
    expectUnauthorized(await get(token));
  });

  it('rejects an ES256 token that names the RSA key (key type must match the algorithm)', async () => {
    const token = sign(claims(['admin']), ec.privateKey, { algorithm: 'ES256', keyid: 'rsa-1', subject: 'mallory', expiresIn: '10m' });
    expectUnauthorized(await get(token));
  });

  it('rejects an HS256 token signed with the RSA public key PEM as the secret (algorithm confusion)', async () => {
    const pem = rsa.publicKey.export({ format: 'pem', type: 'spki' }) as string;
    const payload = { sub: 'mallory', ...claims(['platform-admin']), exp: now() + 600 };
    expectUnauthorized(await get(rawJwt({ alg: 'HS256', typ: 'JWT', kid: 'rsa-1' }, payload, pem)));
    expectUnauthorized(await get(rawJwt({ alg: 'HS256', typ: 'JWT', kid: 'rsa-1' }, payload, Buffer.from(pem.trim()))));
  });

  it('rejects alg none even with a known kid', async () => {
    expectUnauthorized(await get(rawJwt({ alg: 'none', kid: 'rsa-1' }, { sub: 'mallory', ...claims(['admin']), exp: now() + 600 }, null)));
  });

  it('never follows jku or x5u headers: a token signed by a key only the canary serves is refused, and the canary is never called', async () => {
    const forged = sign(claims(['admin']), attacker.privateKey, {
      algorithm: 'RS256',
      keyid: 'attacker-1',
      subject: 'mallory',
      expiresIn: '10m',
      header: { alg: 'RS256', kid: 'attacker-1', jku: canaryUrl, x5u: canaryUrl },
    });
    expectUnauthorized(await get(forged));
    const legit = sign(claims(['viewer']), rsa.privateKey, {
      algorithm: 'RS256',
      keyid: 'rsa-1',
      subject: 'alice',
      expiresIn: '10m',
      header: { alg: 'RS256', kid: 'rsa-1', jku: canaryUrl, x5u: canaryUrl },
    });
    expect((await get(legit)).statusCode).toBe(200);
    expect(canaryRequests).toBe(0);
  });

  it('refuses a token signed with the development shared secret once JWKS is configured', async () => {
    expectUnauthorized(await get(mintToken({ tenant, roles: ['admin'] })));
  });
});
