import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { sign } from 'jsonwebtoken';
import { loadConfig } from '../../config/app-config';
import { ProblemException } from '../http/problem';
import { Authenticated, PlatformAdminOnly, Public, TenantRoleAtLeast, AnyTenantMember } from './access.decorators';
import { AccessGuard, JwtAuthGuard } from './auth.guards';
import { JwtStrategy } from './jwt.strategy';
import { VerifiedTokens } from './verified-tokens';
import type { Principal } from './principal';

class Routes {
  @Public() health() {}
  @PlatformAdminOnly() manageTenants() {}
  @AnyTenantMember() readTenant() {}
  @TenantRoleAtLeast('editor') writeIntegration() {}
  @TenantRoleAtLeast('admin') readAudit() {}
  @Authenticated() anyone() {}
  undeclared() {}
}

@Public()
class PublicController {
  anything() {}
}

function context(handler: keyof Routes, user: Principal | undefined, params: Record<string, string> = {}, cls: object = Routes): ExecutionContext {
  const fn = cls === Routes ? Routes.prototype[handler] : PublicController.prototype.anything;
  return {
    getHandler: () => fn,
    getClass: () => cls,
    switchToHttp: () => ({ getRequest: () => ({ user, params }), getResponse: () => ({}), getNext: () => undefined }),
  } as unknown as ExecutionContext;
}

const principal = (p: Partial<Principal>): Principal => ({ sub: 'alice', tenantId: null, roles: [], platformAdmin: false, ...p });
const member = (tenantId: string, ...roles: Principal['roles']) => principal({ tenantId, roles });
const platformAdmin = principal({ roles: ['platform-admin'], platformAdmin: true });

function refusal(run: () => unknown): { status: number; detail: string } {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ProblemException);
    const { status, detail } = (error as ProblemException).problem;
    return { status, detail };
  }
  throw new Error('expected the guard to refuse');
}

describe('AccessGuard', () => {
  const guard = new AccessGuard(new Reflector());

  it('lets @Public() routes through without a principal, on the handler or the class', () => {
    expect(guard.canActivate(context('health', undefined))).toBe(true);
    expect(guard.canActivate(context('health', undefined, {}, PublicController))).toBe(true);
  });

  it('refuses a route that declares no access rule, even to a platform-admin (default deny)', () => {
    expect(refusal(() => guard.canActivate(context('undeclared', platformAdmin))).status).toBe(403);
  });

  it('refuses when no principal was attached', () => {
    expect(refusal(() => guard.canActivate(context('anyone', undefined))).status).toBe(403);
  });

  it('refuses a principal with no known role, whatever the rule', () => {
    for (const route of ['anyone', 'readTenant', 'manageTenants'] as const) {
      const { status, detail } = refusal(() => guard.canActivate(context(route, member('acme'), { tenant: 'acme' })));
      expect(status).toBe(403);
      expect(detail).toMatch(/no known role/);
    }
  });

  describe('platform-admin rule', () => {
    it('admits a platform-admin', () => {
      expect(guard.canActivate(context('manageTenants', platformAdmin))).toBe(true);
    });

    it.each(['viewer', 'editor', 'admin'] as const)('refuses a tenant %s', (role) => {
      expect(refusal(() => guard.canActivate(context('manageTenants', member('acme', role), { tenant: 'acme' }))).status).toBe(403);
    });
  });

  describe('authenticated rule', () => {
    it('admits any principal with a known role', () => {
      expect(guard.canActivate(context('anyone', member('acme', 'viewer')))).toBe(true);
      expect(guard.canActivate(context('anyone', platformAdmin))).toBe(true);
    });
  });

  describe('tenant rule', () => {
    it.each([
      ['readTenant', 'viewer', true],
      ['writeIntegration', 'viewer', false],
      ['writeIntegration', 'editor', true],
      ['writeIntegration', 'admin', true],
      ['readAudit', 'editor', false],
      ['readAudit', 'admin', true],
    ] as const)('%s with role %s in its own tenant: allowed=%s', (route, role, allowed) => {
      const run = () => guard.canActivate(context(route, member('acme', role), { tenant: 'acme' }));
      if (allowed) expect(run()).toBe(true);
      else expect(refusal(run)).toEqual({ status: 403, detail: expect.stringMatching(/needs the \w+ role/) });
    });

    it('uses the highest of several roles', () => {
      expect(guard.canActivate(context('readAudit', member('acme', 'viewer', 'admin'), { tenant: 'acme' }))).toBe(true);
    });

    it('refuses a member of another tenant, whatever its role', () => {
      const { status, detail } = refusal(() => guard.canActivate(context('readTenant', member('other', 'admin'), { tenant: 'acme' })));
      expect(status).toBe(403);
      expect(detail).toMatch(/does not act in this tenant/);
    });

    it('refuses a tenant role without a tenant claim', () => {
      expect(refusal(() => guard.canActivate(context('readTenant', member(null as unknown as string, 'admin'), { tenant: 'acme' }))).status).toBe(403);
    });

    it('admits a platform-admin into any tenant at admin level', () => {
      expect(guard.canActivate(context('readAudit', platformAdmin, { tenant: 'anyone' }))).toBe(true);
    });

    it('refuses a tenant rule on a route without a :tenant parameter', () => {
      expect(refusal(() => guard.canActivate(context('readTenant', platformAdmin, {}))).status).toBe(403);
    });
  });
});

const SECRET = 'unit-test-secret-that-is-long-enough-0123456789';
/** The guard with a strategy registered under 'jwt', as the app module registers it. */
function jwtGuard(verified?: VerifiedTokens): { guard: JwtAuthGuard; strategy: JwtStrategy } {
  const strategy = new JwtStrategy(loadConfig({ NODE_ENV: 'test', AUTH_JWT_SECRET: SECRET }));
  return { guard: new JwtAuthGuard(new Reflector(), verified), strategy };
}

describe('JwtAuthGuard.canActivate (passport-jwt run on the request)', () => {
  const { guard } = jwtGuard();
  const bearer = (claims: object, secret = SECRET, options: object = { expiresIn: '5m' }) =>
    `Bearer ${sign(claims, secret, { algorithm: 'HS256', subject: 'alice', ...options })}`;
  const request = (authorization?: string): { headers: Record<string, string>; user?: Principal } => ({
    headers: authorization === undefined ? {} : { authorization },
  });
  const contextFor = (req: object, handler: keyof Routes = 'anyone') =>
    ({
      getHandler: () => Routes.prototype[handler],
      getClass: () => Routes,
      switchToHttp: () => ({ getRequest: () => req, getResponse: () => ({}), getNext: () => undefined }),
    }) as unknown as ExecutionContext;
  const refusalOf = async (run: Promise<unknown>) => {
    const error = await run.then(
      () => {
        throw new Error('expected a 401');
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ProblemException);
    return (error as ProblemException).problem;
  };

  it('admits a valid token and attaches its principal to the request', async () => {
    const req = request(bearer({ tenant_id: 'acme', roles: ['editor', 'unknown-role'] }));
    await expect(guard.canActivate(contextFor(req))).resolves.toBe(true);
    expect(req.user).toEqual({ sub: 'alice', tenantId: 'acme', roles: ['editor'], platformAdmin: false });
  });

  it('lets a @Public() route through without reading any token', async () => {
    const req = request('Bearer not-even-a-jwt');
    await expect(Promise.resolve(guard.canActivate(contextFor(req, 'health')))).resolves.toBe(true);
    expect(req.user).toBeUndefined();
  });

  it.each([
    ['no Authorization header', undefined, /Bearer token is required/],
    ['a Basic Authorization header', 'Basic YWxpY2U6cHc=', /Bearer token is required/],
    ['an expired token', bearer({ tenant_id: 'acme', roles: ['viewer'] }, SECRET, { expiresIn: -120 }), /expired/],
    ['a token signed with another secret', bearer({ tenant_id: 'acme', roles: ['viewer'] }, 'another-secret-that-is-long-enough-9876543210'), /invalid/],
    ['a token without exp', bearer({ tenant_id: 'acme', roles: ['viewer'] }, SECRET, {}), /invalid/],
    ['a malformed token', 'Bearer abc.def.ghi', /invalid/],
  ])('refuses %s with a 401 and attaches no principal', async (_, authorization, detail) => {
    const req = request(authorization);
    const problem = await refusalOf(Promise.resolve(guard.canActivate(contextFor(req))));
    expect(problem.status).toBe(401);
    expect(problem.detail).toMatch(detail);
    expect(req.user).toBeUndefined();
  });
});

describe('JwtAuthGuard: verified tokens answered from memory', () => {
  const header = (claims: object = { tenant_id: 'acme', roles: ['editor'] }, expiresIn = 300) =>
    `Bearer ${sign(claims, SECRET, { algorithm: 'HS256', subject: 'alice', expiresIn })}`;
  const contextFor = (authorization: string, req: { headers: Record<string, string>; user?: Principal } = { headers: { authorization } }) => ({
    req,
    context: {
      getHandler: () => Routes.prototype.anyone,
      getClass: () => Routes,
      switchToHttp: () => ({ getRequest: () => req, getResponse: () => ({}), getNext: () => undefined }),
    } as unknown as ExecutionContext,
  });

  it('verifies a header once, then answers the same header with the same frozen principal', async () => {
    const { guard, strategy } = jwtGuard(new VerifiedTokens());
    const validate = jest.spyOn(strategy, 'validate');
    const value = header();
    const first = contextFor(value);
    await expect(Promise.resolve(guard.canActivate(first.context))).resolves.toBe(true);
    const second = contextFor(value);
    await expect(Promise.resolve(guard.canActivate(second.context))).resolves.toBe(true);
    expect(validate).toHaveBeenCalledTimes(1);
    expect(second.req.user).toEqual({ sub: 'alice', tenantId: 'acme', roles: ['editor'], platformAdmin: false });
    expect(Object.isFrozen(second.req.user)).toBe(true);
    expect(Object.isFrozen(second.req.user!.roles)).toBe(true);
  });

  it('verifies again any other spelling of the header, and each different token', async () => {
    const { guard, strategy } = jwtGuard(new VerifiedTokens());
    const validate = jest.spyOn(strategy, 'validate');
    const value = header();
    for (const variant of [value, value.replace('Bearer', 'bearer'), header({ tenant_id: 'other', roles: ['viewer'] })]) {
      await expect(Promise.resolve(guard.canActivate(contextFor(variant).context))).resolves.toBe(true);
    }
    expect(validate).toHaveBeenCalledTimes(3);
  });

  it('remembers no refused token', async () => {
    const verified = new VerifiedTokens();
    const { guard } = jwtGuard(verified);
    for (const value of [header({ tenant_id: 'acme', roles: ['editor'] }, -120), `${header()}x`, 'Bearer abc.def.ghi']) {
      for (let attempt = 0; attempt < 2; attempt += 1) {
        await expect(Promise.resolve(guard.canActivate(contextFor(value).context))).rejects.toBeInstanceOf(ProblemException);
      }
    }
    expect(verified.size).toBe(0);
  });
});

describe('JwtAuthGuard.handleRequest', () => {
  const { guard } = jwtGuard();
  const named = (name: string, message = 'x') => Object.assign(new Error(message), { name });

  it('returns the user when verification succeeded', () => {
    expect(guard.handleRequest(null, platformAdmin, undefined)).toBe(platformAdmin);
  });

  it.each([
    ['no token', named('Error', 'No auth token'), /Bearer token is required/, 'Bearer realm="switchboard"'],
    ['an expired token', named('TokenExpiredError', 'jwt expired'), /expired/, expect.stringContaining('error="invalid_token"')],
    ['a token not valid yet', named('NotBeforeError', 'jwt not active'), /not valid yet/, expect.stringContaining('error="invalid_token"')],
    ['a bad signature', named('JsonWebTokenError', 'invalid signature'), /invalid/, expect.stringContaining('error="invalid_token"')],
  ])('answers 401 with a Bearer challenge for %s', (_, info, detail, challenge) => {
    const problem = (() => {
      try {
        guard.handleRequest(null, false, info);
      } catch (error) {
        return (error as ProblemException).problem;
      }
      throw new Error('expected a 401');
    })();
    expect(problem.status).toBe(401);
    expect(problem.detail).toMatch(detail);
    expect(problem.headers?.['WWW-Authenticate']).toEqual(challenge);
  });

  it('never echoes the underlying verification message', () => {
    try {
      guard.handleRequest(null, false, named('JsonWebTokenError', 'secret-looking-detail-123'));
    } catch (error) {
      expect(JSON.stringify((error as ProblemException).problem)).not.toContain('secret-looking-detail-123');
      return;
    }
    throw new Error('expected a 401');
  });
});
