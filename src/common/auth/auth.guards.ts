import { Injectable, Optional, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import { Problems } from '../http/problem';
import { ACCESS, IS_PUBLIC, type AccessRule } from './access.decorators';
import { hasAtLeast, roleIn, TENANT_ROLES, type Principal } from './principal';
import { expiryOf, VerifiedTokens } from './verified-tokens';

/**
 * Default-deny authentication: every route needs a valid Bearer token unless marked @Public().
 * Tokens are verified by passport-jwt (JwtStrategy); an Authorization header that passed is
 * answered from VerifiedTokens until its token expires or for a minute, whichever comes first.
 */
@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  private readonly verified: VerifiedTokens;

  constructor(
    private readonly reflector: Reflector,
    @Optional() verified?: VerifiedTokens,
  ) {
    super();
    this.verified = verified ?? new VerifiedTokens();
  }

  override canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()])) return true;
    const request = context.switchToHttp().getRequest<FastifyRequest & { user?: Principal }>();
    const header = request.headers.authorization;
    if (typeof header === 'string') {
      const known = this.verified.get(header);
      if (known) {
        request.user = known;
        return true;
      }
    }
    return (super.canActivate(context) as Promise<boolean>).then((admitted) => {
      if (admitted && typeof header === 'string' && request.user) this.verified.set(header, freeze(request.user), expiryOf(header));
      return admitted;
    });
  }

  override handleRequest<T>(err: unknown, user: T | false, info: unknown): T {
    if (err || !user) {
      const reason = info instanceof Error ? info.name : '';
      const noToken = info instanceof Error && /No auth token/i.test(info.message);
      const detail =
        reason === 'TokenExpiredError'
          ? 'The token has expired.'
          : reason === 'NotBeforeError'
            ? 'The token is not valid yet.'
            : noToken
              ? 'A Bearer token is required.'
              : 'The token is invalid.';
      throw Problems.unauthorized(detail, !noToken);
    }
    return user;
  }
}

/**
 * Authorization: every authenticated route declares who may call it; a route
 * that declares nothing is refused. A tenant route needs the path's tenant to
 * be the token's tenant (or a platform-admin) and a high enough role.
 */
@Injectable()
export class AccessGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;
    const rule = this.reflector.getAllAndOverride<AccessRule | undefined>(ACCESS, targets);
    const request = context.switchToHttp().getRequest<FastifyRequest & { user?: Principal; params: Record<string, string> }>();
    const principal = request.user;
    if (!principal || !rule) throw Problems.forbidden('This route is not available to this token.');
    if (!principal.platformAdmin && !principal.roles.some((r) => (TENANT_ROLES as readonly string[]).includes(r))) {
      throw Problems.forbidden('The token carries no known role.');
    }
    switch (rule.kind) {
      case 'platform-admin':
        if (!principal.platformAdmin) throw Problems.forbidden('Only a platform-admin may do this.');
        return true;
      case 'authenticated':
        return true;
      case 'tenant': {
        const tenantId = request.params?.tenant;
        if (!tenantId) throw Problems.forbidden('This route is not available to this token.');
        const role = roleIn(principal, tenantId);
        if (role === null) throw Problems.forbidden('The token does not act in this tenant.');
        if (!hasAtLeast(role, rule.role)) throw Problems.forbidden(`This action needs the ${rule.role} role.`);
        return true;
      }
    }
  }
}

/** One principal object serves every request with the same token: nothing may change it. */
function freeze(principal: Principal): Principal {
  return Object.freeze({ ...principal, roles: Object.freeze([...principal.roles]) as Principal['roles'] });
}
