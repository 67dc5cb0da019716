import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { Problems } from '../http/problem';
import { ACCESS, IS_PUBLIC, type AccessRule } from './access.decorators';
import { JwtStrategy } from './jwt.strategy';
import { hasAtLeast, roleIn, TENANT_ROLES, type Principal } from './principal';

/** The actions passport gives a strategy for one request (passport-strategy's contract). */
interface StrategyAttempt {
  authenticate(request: unknown, options: { session: false }): void;
  success(user: Principal | false, info?: unknown): void;
  fail(challenge?: unknown, status?: number): void;
  error(err: unknown): void;
  pass(): void;
  redirect(url: string, status?: number): void;
}

/**
 * Default-deny authentication: every route needs a valid Bearer token unless marked @Public().
 *
 * The token is checked by passport-jwt (JwtStrategy), run the way passport itself runs a strategy:
 * a per-request object inheriting from the registered strategy, given the success, fail and error
 * actions. The guard does not go through `passport.authenticate` and @nestjs/passport's AuthGuard:
 * on that path, with the execution context and the reply captured in its closures, about 3 KB of
 * every request survived two young-generation collections and was promoted (1.0 MB per scavenge
 * under load against 0.06 MB here; scavenge pauses 2.3 ms against 0.8 ms; old-generation
 * collections every 2.4 s), which showed in the p99. See docs/benchmarks.md.
 */
@Injectable()
export class JwtAuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly strategy: JwtStrategy,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()])) return true;
    return this.authenticate(context.switchToHttp().getRequest<FastifyRequest & { user?: Principal }>());
  }

  /** Runs the strategy on the request; on success the principal is `request.user`. */
  private authenticate(request: FastifyRequest & { user?: Principal }): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const settle = (err: unknown, user: Principal | false, info: unknown) => {
        try {
          request.user = this.handleRequest(err, user, info);
          resolve(true);
        } catch (problem) {
          reject(problem);
        }
      };
      const attempt = Object.create(this.strategy) as StrategyAttempt;
      attempt.success = (user, info) => settle(null, user, info);
      attempt.fail = (challenge) => settle(null, false, challenge);
      attempt.error = (err) => settle(err, false, undefined);
      // passport-jwt neither passes nor redirects; were it to, the request is not authenticated.
      attempt.pass = () => settle(null, false, undefined);
      attempt.redirect = () => settle(null, false, undefined);
      try {
        attempt.authenticate(request, { session: false });
      } catch (err) {
        settle(err, false, undefined);
      }
    });
  }

  handleRequest(err: unknown, user: Principal | false | null | undefined, info: unknown): Principal {
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
