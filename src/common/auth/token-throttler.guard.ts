import { createHash } from 'node:crypto';
import { Injectable, type ExecutionContext } from '@nestjs/common';
import { ThrottlerGuard } from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';
import type { Principal } from './principal';

/** Rate limit per token (API.md): the tracker is the caller's identity, not its IP. */
@Injectable()
export class TokenThrottlerGuard extends ThrottlerGuard {
  protected override async getTracker(request: Record<string, unknown>): Promise<string> {
    const req = request as unknown as FastifyRequest & { user?: Principal };
    const auth = req.headers?.authorization;
    if (typeof auth === 'string') return createHash('sha256').update(auth).digest('base64url');
    return req.ip ?? 'unknown';
  }

  protected override async shouldSkip(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<FastifyRequest & { user?: Principal }>();
    return !req.user;
  }
}
