import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { loadConfig } from '../../config/app-config';
import { JWKS_KEY_TTL_MS, JWKS_REFETCH_COOLDOWN_MS, JwtStrategy, jwksKeyProvider, type JwksKeySource } from './jwt.strategy';
import { hasAtLeast, roleIn, type Principal } from './principal';

const SECRET = 'unit-test-secret-that-is-long-enough-0123456789';

function strategy(env: Record<string, string> = {}): JwtStrategy {
  return new JwtStrategy(loadConfig({ NODE_ENV: 'test', AUTH_JWT_SECRET: SECRET, ...env }));
}

describe('JwtStrategy.validate (claims to principal)', () => {
  const exp = Math.floor(Date.now() / 1000) + 600;
  const base = strategy();
  // The signature, exp and nbf were checked by jsonwebtoken before validate runs.
  const s = { validate: (claims: Record<string, unknown>) => base.validate({ exp, ...claims }) };

  it('maps sub, tenant_id and roles, keeping only known roles', () => {
    expect(s.validate({ sub: 'alice', tenant_id: 'acme', roles: ['viewer', 'root', 'editor', 42] })).toEqual({
      sub: 'alice',
      tenantId: 'acme',
      roles: ['viewer', 'editor'],
      platformAdmin: false,
    });
  });

  it('marks platform-admins', () => {
    expect(s.validate({ sub: 'root', roles: ['platform-admin'] })).toMatchObject({ platformAdmin: true, tenantId: null });
  });

  it('accepts a space-separated roles string (OAuth scope style)', () => {
    expect(s.validate({ sub: 'a', tenant_id: 't', roles: 'viewer admin' })).toMatchObject({ roles: ['viewer', 'admin'] });
  });

  it.each([
    ['missing', {}],
    ['empty', { sub: '' }],
    ['not a string', { sub: 42 }],
    ['longer than 256', { sub: 'x'.repeat(257) }],
  ])('refuses a token whose sub is %s', (_, claims) => {
    expect(s.validate({ roles: ['admin'], tenant_id: 't', ...claims })).toBe(false);
  });

  it('ignores a tenant claim that is not a valid tenant id', () => {
    expect(s.validate({ sub: 'a', tenant_id: '../etc', roles: ['admin'] }).valueOf()).toMatchObject({ tenantId: null });
    expect(s.validate({ sub: 'a', tenant_id: ['acme'], roles: ['admin'] })).toMatchObject({ tenantId: null });
  });

  it('refuses a token without a numeric exp (it would never expire)', () => {
    expect(base.validate({ sub: 'a', tenant_id: 't', roles: ['admin'] })).toBe(false);
    expect(base.validate({ sub: 'a', tenant_id: 't', roles: ['admin'], exp: String(exp) })).toBe(false);
  });

  it('reads configured claim names instead of the defaults', () => {
    const custom = strategy({ AUTH_TENANT_CLAIM: 'org', AUTH_ROLES_CLAIM: 'perms' });
    expect(custom.validate({ exp, sub: 'a', org: 'acme', perms: ['editor'], tenant_id: 'other', roles: ['admin'] })).toEqual({
      sub: 'a',
      tenantId: 'acme',
      roles: ['editor'],
      platformAdmin: false,
    });
  });
});

describe('roles', () => {
  const p = (tenantId: string | null, roles: Principal['roles'], platformAdmin = false): Principal => ({ sub: 's', tenantId, roles, platformAdmin });

  it('gives the highest tenant role held in the token tenant only', () => {
    expect(roleIn(p('acme', ['viewer', 'admin', 'editor']), 'acme')).toBe('admin');
    expect(roleIn(p('acme', ['admin']), 'other')).toBeNull();
    expect(roleIn(p('acme', []), 'acme')).toBeNull();
  });

  it('treats a platform-admin as admin in every tenant', () => {
    expect(roleIn(p(null, ['platform-admin'], true), 'anything')).toBe('admin');
  });

  it('orders viewer < editor < admin', () => {
    expect(hasAtLeast('editor', 'viewer')).toBe(true);
    expect(hasAtLeast('editor', 'editor')).toBe(true);
    expect(hasAtLeast('editor', 'admin')).toBe(false);
    expect(hasAtLeast(null, 'viewer')).toBe(false);
  });
});

describe('jwksKeyProvider (whole-set cache, refetch cooldown)', () => {
  const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
  const token = (kid: unknown) => `${Buffer.from(JSON.stringify({ alg: 'ES256', kid })).toString('base64url')}.e30.sig`;

  function setup(initialKids: string[]) {
    let kids = initialKids;
    let failing = false;
    let clock = 1_000_000;
    const source = {
      fetches: 0,
      getSigningKeys: jest.fn(async () => {
        source.fetches += 1;
        await new Promise((r) => setImmediate(r));
        if (failing) throw new Error('JWKS down');
        return kids.map((kid) => ({ kid, alg: 'ES256', getPublicKey: () => pem, publicKey: pem }));
      }),
    };
    const provider = jwksKeyProvider('http://jwks.invalid', source as unknown as JwksKeySource, () => clock);
    const resolve = (kid: unknown) =>
      new Promise<KeyObject | undefined>((r) => provider(undefined, token(kid), (err, key) => r(err ? undefined : (key as unknown as KeyObject))));
    return {
      source,
      resolve,
      rotate: (next: string[]) => (kids = next),
      fail: (value: boolean) => (failing = value),
      advance: (ms: number) => (clock += ms),
    };
  }

  it('fetches the set once and answers known kids from it', async () => {
    const t = setup(['a', 'b']);
    expect(await t.resolve('a')).toBeDefined();
    expect(await t.resolve('b')).toBeDefined();
    expect(await t.resolve('a')).toBe(await t.resolve('a'));
    expect(t.source.fetches).toBe(1);
  });

  it('refuses a kid that is missing or not well-formed without a fetch', async () => {
    const t = setup(['a']);
    expect(await t.resolve(undefined)).toBeUndefined();
    expect(await t.resolve('../etc/passwd')).toBeUndefined();
    expect(t.source.fetches).toBe(0);
  });

  it('shares one in-flight fetch between concurrent requests', async () => {
    const t = setup(['a']);
    const results = await Promise.all([t.resolve('a'), t.resolve('x1'), t.resolve('a'), t.resolve('x2')]);
    expect(results.map(Boolean)).toEqual([true, false, true, false]);
    expect(t.source.fetches).toBe(1);
  });

  it('costs at most one fetch per cooldown for a burst of unknown kids, and picks up a rotated key after it', async () => {
    const t = setup(['a']);
    expect(await t.resolve('a')).toBeDefined();
    for (let i = 0; i < 50; i++) expect(await t.resolve(`forged-${i}`)).toBeUndefined();
    expect(t.source.fetches).toBe(1);
    t.rotate(['a', 'b']);
    expect(await t.resolve('b')).toBeUndefined(); // within the cooldown: from the cached set
    t.advance(JWKS_REFETCH_COOLDOWN_MS);
    expect(await t.resolve('b')).toBeDefined();
    expect(t.source.fetches).toBe(2);
    for (let i = 0; i < 50; i++) expect(await t.resolve(`forged-again-${i}`)).toBeUndefined();
    expect(t.source.fetches).toBe(2);
  });

  it('refreshes the set once it is older than the TTL, dropping withdrawn keys', async () => {
    const t = setup(['a']);
    expect(await t.resolve('a')).toBeDefined();
    t.rotate(['b']);
    t.advance(JWKS_KEY_TTL_MS - 1);
    expect(await t.resolve('a')).toBeDefined();
    expect(t.source.fetches).toBe(1);
    t.advance(1);
    expect(await t.resolve('a')).toBeUndefined();
    expect(await t.resolve('b')).toBeDefined();
    expect(t.source.fetches).toBe(2);
  });

  it('keeps the previous set while fetches fail, but not past the TTL', async () => {
    const t = setup(['a']);
    expect(await t.resolve('a')).toBeDefined();
    t.fail(true);
    t.advance(JWKS_REFETCH_COOLDOWN_MS);
    expect(await t.resolve('unknown')).toBeUndefined();
    expect(await t.resolve('a')).toBeDefined();
    expect(t.source.fetches).toBe(2);
    t.advance(JWKS_KEY_TTL_MS);
    expect(await t.resolve('a')).toBeUndefined();
    expect(await t.resolve('a')).toBeUndefined(); // failed just now: no retry within the cooldown
    expect(t.source.fetches).toBe(3);
    t.fail(false);
    t.advance(JWKS_REFETCH_COOLDOWN_MS);
    expect(await t.resolve('a')).toBeDefined();
    expect(t.source.fetches).toBe(4);
  });
});
