import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal';

/** Who acts and under which request id: what services need for audit events. */
export interface RequestContext {
  principal: Principal;
  actor: string;
  requestId: string;
}

export const Ctx = createParamDecorator((_: unknown, ctx: ExecutionContext): RequestContext => {
  const request = ctx.switchToHttp().getRequest<FastifyRequest & { user: Principal }>();
  return { principal: request.user, actor: request.user.sub, requestId: String(request.id) };
});

/** The If-Match header, if any. */
export const IfMatch = createParamDecorator((_: unknown, ctx: ExecutionContext): string | undefined => {
  const value = ctx.switchToHttp().getRequest<FastifyRequest>().headers['if-match'];
  return Array.isArray(value) ? value.join(',') : value;
});
