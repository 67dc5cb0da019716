import { loadConfig } from '../../config/app-config';
import { JwtStrategy } from './jwt.strategy';
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
