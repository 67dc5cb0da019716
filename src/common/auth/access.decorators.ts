import { createParamDecorator, SetMetadata, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { Principal, TenantRole } from './principal';

export const IS_PUBLIC = 'switchboard:public';
export const ACCESS = 'switchboard:access';

export type AccessRule =
  | { kind: 'platform-admin' }
  /** A member of the path's tenant with at least `role` (platform-admins pass). */
  | { kind: 'tenant'; role: TenantRole }
  /** Any authenticated principal; the service decides (e.g. connection ownership). */
  | { kind: 'authenticated' };

/** Opts a route out of authentication (health, metrics, docs, OAuth2 callback). */
export const Public = () => SetMetadata(IS_PUBLIC, true);
export const PlatformAdminOnly = () => SetMetadata(ACCESS, { kind: 'platform-admin' } satisfies AccessRule);
export const TenantRoleAtLeast = (role: TenantRole) => SetMetadata(ACCESS, { kind: 'tenant', role } satisfies AccessRule);
export const AnyTenantMember = () => SetMetadata(ACCESS, { kind: 'tenant', role: 'viewer' } satisfies AccessRule);
export const Authenticated = () => SetMetadata(ACCESS, { kind: 'authenticated' } satisfies AccessRule);

export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  return ctx.switchToHttp().getRequest<FastifyRequest & { user: Principal }>().user;
});
