import { applyDecorators, Inject, Injectable, SetMetadata, UseInterceptors, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { from, lastValueFrom, type Observable } from 'rxjs';
import { DataSource } from 'typeorm';
import type { Principal } from '../auth/principal';
import { SIGNER, type Signer } from '../crypto/signer';
import { Problems } from './problem';
import type { IdempotentReply } from './request-context';
import { stableStringify } from './stable-json';

const IDEMPOTENT = 'switchboard:idempotent';
/** Marks a create route as honouring `Idempotency-Key`. */
// Applied per route rather than globally: every other route skips the interceptor's cost entirely.
export const Idempotent = () => applyDecorators(SetMetadata(IDEMPOTENT, true), UseInterceptors(IdempotencyInterceptor));

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
const TTL_HOURS = 24;
/** A key still "in flight" after this long belongs to a request that died; it may be taken over. */
const ABANDONED_AFTER_SECONDS = 60;
const COMPLETE = `UPDATE idempotency_keys SET state = 'done', response_status = $4, response_body = $5, response_etag = $6 WHERE scope = $1 AND caller = $2 AND key = $3`;

interface StoredKey {
  request_hash: string;
  state: 'in_flight' | 'done';
  response_status: number | null;
  response_body: unknown;
  response_etag: string | null;
}

/**
 * Idempotency-Key on creates (API.md): same key + same body replays the first
 * response; another body is 422; a key still in flight is 409. The request is
 * fingerprinted with an HMAC (never stored in clear, so a low-entropy secret in
 * the body cannot be guessed from it) and only the redacted response is kept.
 *
 * The key is claimed (in flight) before the handler runs, and completed by the
 * create itself, in the transaction that creates the resource (`ctx.idempotency`):
 * after a crash the key is either done with the resource committed, or still in
 * flight with nothing created (taken over after 60 s). A handler that does not
 * store its reply has it stored after it returns, as a fallback.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly dataSource: DataSource,
    @Inject(SIGNER) private readonly signer: Signer,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (!this.reflector.get<boolean>(IDEMPOTENT, context.getHandler())) return next.handle();
    const request = context.switchToHttp().getRequest<FastifyRequest & { user?: Principal; params: Record<string, string> }>();
    const header = request.headers['idempotency-key'];
    if (header === undefined) return next.handle();
    const key = Array.isArray(header) ? header[0] : header;
    if (!KEY_PATTERN.test(key)) throw Problems.badRequest('Idempotency-Key must be 1 to 255 visible ASCII characters.', [{ field: 'Idempotency-Key', message: 'is invalid' }]);
    const reply = context.switchToHttp().getResponse<FastifyReply>();
    return from(this.run(request, reply, key, next));
  }

  private async run(request: FastifyRequest & { user?: Principal; params: Record<string, string> }, reply: FastifyReply, key: string, next: CallHandler): Promise<unknown> {
    const scope = request.params?.tenant ?? '_platform';
    const caller = request.user?.sub ?? 'anonymous';
    const path = request.url.split('?')[0];
    const fingerprint = `${request.method} ${path}\n${stableStringify(request.body ?? null)}`;
    const hash = this.signer.sign('idempotency', fingerprint);

    const claimed = await this.claim(scope, caller, key, hash);
    if (!claimed) {
      const [row]: StoredKey[] = await this.dataSource.query(
        `SELECT request_hash, state, response_status, response_body, response_etag FROM idempotency_keys WHERE scope = $1 AND caller = $2 AND key = $3`,
        [scope, caller, key],
      );
      if (!row) return this.run(request, reply, key, next);
      if (row.request_hash !== hash && !this.signer.verify('idempotency', fingerprint, row.request_hash)) throw Problems.unprocessable('This Idempotency-Key was already used with a different request body.');
      if (row.state === 'in_flight') throw Problems.conflict('A request with this Idempotency-Key is still being processed; retry later.', 'idempotency-in-flight');
      void reply.status(row.response_status ?? 200).header('Idempotency-Replayed', 'true');
      return row.response_body;
    }
    let stored = false;
    const completion: IdempotentReply = {
      store: async (m, body) => {
        await m.query(COMPLETE, [scope, caller, key, 201, JSON.stringify(body ?? null), etagOf(body)]);
        stored = true;
      },
    };
    (request as { idempotency?: IdempotentReply }).idempotency = completion;
    try {
      const body = await lastValueFrom(next.handle(), { defaultValue: undefined });
      if (!stored) await this.dataSource.query(COMPLETE, [scope, caller, key, reply.statusCode === 200 ? 201 : reply.statusCode, JSON.stringify(body ?? null), etagOf(body)]);
      return body;
    } catch (error) {
      await this.dataSource.query(`DELETE FROM idempotency_keys WHERE scope = $1 AND caller = $2 AND key = $3 AND state = 'in_flight'`, [scope, caller, key]).catch(() => undefined);
      throw error;
    }
  }

  /** Takes the key for this request: a fresh insert, or a takeover of an expired or abandoned entry. */
  private async claim(scope: string, caller: string, key: string, hash: string): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(
      `INSERT INTO idempotency_keys (scope, caller, key, request_hash, state, expires_at)
       VALUES ($1, $2, $3, $4, 'in_flight', now() + interval '${TTL_HOURS} hours')
       ON CONFLICT (scope, caller, key) DO UPDATE
         SET request_hash = EXCLUDED.request_hash, state = 'in_flight', response_status = NULL, response_body = NULL,
             response_etag = NULL, created_at = now(), expires_at = EXCLUDED.expires_at
         WHERE idempotency_keys.expires_at < now()
            OR (idempotency_keys.state = 'in_flight' AND idempotency_keys.created_at < now() - interval '${ABANDONED_AFTER_SECONDS} seconds')
       RETURNING key`,
      [scope, caller, key, hash],
    );
    return rows.length > 0;
  }
}

function etagOf(body: unknown): string | null {
  return body && typeof body === 'object' && typeof (body as { etag?: unknown }).etag === 'string' ? (body as { etag: string }).etag : null;
}
