import { ApiProperty } from '@nestjs/swagger';
import { IsString, Matches } from 'class-validator';

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const ID_MESSAGE = { message: 'must match ^[A-Za-z0-9_-]{1,64}$' };

export class TenantIdParam {
  @ApiProperty({ pattern: ID.source })
  @IsString()
  @Matches(ID, ID_MESSAGE)
  tenant: string;
}

export class IntegrationIdParam extends TenantIdParam {
  @ApiProperty({ pattern: ID.source })
  @IsString()
  @Matches(ID, ID_MESSAGE)
  integration: string;
}

/**
 * Path-parameter classes checked by a plain regular-expression test instead of class-validator
 * (the hot routes). Keyed by the exact class, so a subclass (ConnectionIdParam) is not matched.
 * Only a fully valid object takes this path; anything else falls back to class-validator, so
 * the 400 problem is exactly the one it produces.
 */
const FAST_PARAMS = new Map<unknown, readonly string[]>([
  [TenantIdParam, ['tenant']],
  [IntegrationIdParam, ['tenant', 'integration']],
]);

/** The params object as a plain copy when `metatype` is a registered class and every id is valid; otherwise undefined. */
export function fastIdParams(metatype: unknown, value: unknown): Record<string, string> | undefined {
  const fields = FAST_PARAMS.get(metatype);
  if (!fields || value === null || typeof value !== 'object') return undefined;
  const params = value as Record<string, unknown>;
  const keys = Object.keys(params);
  if (keys.length !== fields.length) return undefined;
  const out: Record<string, string> = {};
  for (const field of fields) {
    const v = params[field];
    if (typeof v !== 'string' || !ID.test(v)) return undefined;
    out[field] = v;
  }
  return out;
}
