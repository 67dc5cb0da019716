import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { map, type Observable } from 'rxjs';

/** Single-resource replies carry their etag as the ETag header too (API.md). */
@Injectable()
export class EtagHeaderInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(
      map((body: unknown) => {
        if (body && typeof body === 'object' && typeof (body as { etag?: unknown }).etag === 'string') {
          void context.switchToHttp().getResponse<FastifyReply>().header('ETag', `"${(body as { etag: string }).etag}"`);
        }
        return body;
      }),
    );
  }
}
