import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { EntityManager } from 'typeorm';
import type { Principal } from '../auth/principal';

/**
 * A create sent with an `Idempotency-Key` (IdempotencyInterceptor): the create stores its reply
 * in the transaction that creates the resource, so that the key is done exactly when the
 * resource exists, and a retry after a crash between the commit and the reply gets the replay.
 */
export interface IdempotentReply {
  /** Call last inside the creating transaction with the reply body (a value shown only once replaced by ***REDACTED***). */
  store(m: EntityManager, body: unknown): Promise<void>;
}

/** Who acts and under which request id: what services need for audit events. */
export interface RequestContext {
  principal: Principal;
  actor: string;
  requestId: string;
  /** Present on a create that carries an Idempotency-Key. */
  idempotency?: IdempotentReply;
}

export const Ctx = createParamDecorator((_: unknown, ctx: ExecutionContext): RequestContext => {
  const request = ctx.switchToHttp().getRequest<FastifyRequest & { user: Principal; idempotency?: IdempotentReply }>();
  const context: RequestContext = { principal: request.user, actor: request.user.sub, requestId: String(request.id) };
  if (request.idempotency) context.idempotency = request.idempotency;
  return context;
});

/** The If-Match header, if any. */
export const IfMatch = createParamDecorator((_: unknown, ctx: ExecutionContext): string | undefined => {
  const value = ctx.switchToHttp().getRequest<FastifyRequest>().headers['if-match'];
  return Array.isArray(value) ? value.join(',') : value;
});
