import { createHash } from 'node:crypto';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { REFUSED, textUpTo, type QueryRule } from './fast-query';
import { Problems } from './problem';

export class PageQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 200, default: 50, description: 'Items per page.' })
  @IsOptional()
  // Plain decimal digits only: `1e2`, `0x10`, ` 5` or `+5` are not a page size (400), not a number coerced.
  @Transform(({ value }) => (typeof value === 'string' && /^[0-9]{1,4}$/.test(value) ? Number(value) : value))
  @IsInt()
  @Min(1)
  @Max(200)
  pageSize?: number;

  @ApiPropertyOptional({ description: 'Opaque token from the previous page; only valid with the same filters.' })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  pageToken?: string;
}

/** The fast-path rules of PageQueryDto's fields (fast-query.ts): the same pattern and range, the same number. */
export const PAGE_QUERY_RULES: Record<string, QueryRule> = {
  pageSize: (value) => {
    if (!/^[0-9]{1,4}$/.test(value)) return REFUSED;
    const n = Number(value);
    return n >= 1 && n <= 200 ? n : REFUSED;
  },
  pageToken: textUpTo(512, 0),
};

export interface PageTokenSigner {
  sign(purpose: string, data: string): string;
  verify(purpose: string, data: string, signature: string): boolean;
}

interface Cursor {
  /** Last seq of the previous page. */
  s: string;
  /** Digest of scope + filters the token was made for. */
  f: string;
}

/**
 * Keyset page tokens: signed (HMAC) so a forged token is refused, and bound to
 * the list's scope and filters so one used elsewhere is refused too.
 */
export class PageTokens {
  constructor(private readonly signer: PageTokenSigner) {}

  encode(scope: string, lastSeq: string): string {
    const payload = Buffer.from(JSON.stringify({ s: lastSeq, f: digest(scope) } satisfies Cursor)).toString('base64url');
    return `${payload}.${this.signer.sign('page-token', payload)}`;
  }

  /** Returns the seq to continue after, or null for the first page; 400 for a token not made for this list. */
  decode(scope: string, token: string | undefined): string | null {
    if (token === undefined) return null;
    const [payload, signature, extra] = token.split('.');
    if (!payload || !signature || extra !== undefined || !this.signer.verify('page-token', payload, signature)) {
      throw Problems.badRequest('pageToken is not a token this service issued.', [{ field: 'pageToken', message: 'is invalid' }]);
    }
    const cursor = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Cursor;
    if (cursor.f !== digest(scope) || !/^\d+$/.test(cursor.s)) {
      throw Problems.badRequest('pageToken was issued for another list or other filters.', [{ field: 'pageToken', message: 'does not match this list and its filters' }]);
    }
    return cursor.s;
  }
}

export function pageScope(list: string, tenantId: string, filters: Record<string, unknown>): string {
  const entries = Object.entries(filters)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => a.localeCompare(b));
  return JSON.stringify([list, tenantId, entries]);
}

function digest(scope: string): string {
  return createHash('sha256').update(scope).digest('base64url').slice(0, 22);
}
