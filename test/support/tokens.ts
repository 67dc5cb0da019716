import { sign, type SignOptions } from 'jsonwebtoken';

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';

export interface TokenClaims {
  sub?: string;
  tenant?: string;
  roles?: string[];
  [claim: string]: unknown;
}

/** A signed HS256 token as the service expects it by default. */
export function mintToken(claims: TokenClaims = {}, options: SignOptions = {}, secret = TEST_JWT_SECRET): string {
  const { sub = 'alice', tenant, roles = ['admin'], ...rest } = claims;
  const payload: Record<string, unknown> = { roles, ...rest };
  if (tenant !== undefined) payload.tenant_id = tenant;
  return sign(payload, secret, { algorithm: 'HS256', expiresIn: '10m', subject: sub, ...options });
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
