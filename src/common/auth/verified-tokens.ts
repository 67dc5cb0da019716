import { createHash } from 'node:crypto';
import type { Principal } from './principal';

/** A verified token is answered from memory for at most this long (and never past its `exp`). */
export const VERIFIED_TOKEN_TTL_MS = 60_000;
/** Bound on remembered tokens; the oldest entry is dropped first. */
export const VERIFIED_TOKEN_MAX = 10_000;

/**
 * Principals of Authorization headers that passed verification, so that the same header on the
 * next requests (a CI job or a UI backend sends one token many times) skips the signature check,
 * the claim checks and the JSON parsing: about a tenth of a GET's CPU time.
 *
 * - Keyed by the SHA-256 of the exact header value: no token is kept, and only a byte-identical
 *   header hits (any other spelling goes through the full verification).
 * - An entry is used until the earliest of the token's `exp` (no clock tolerance here) and
 *   VERIFIED_TOKEN_TTL_MS after it was verified, so a key withdrawn from the JWKS stops being
 *   honoured from the cache within a minute (the JWKS key set itself is re-read every ten).
 * - Only verified tokens are stored; a refused token is verified again every time.
 */
export class VerifiedTokens {
  private readonly entries = new Map<string, { principal: Principal; until: number }>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly max = VERIFIED_TOKEN_MAX,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(header: string): Principal | undefined {
    const key = digest(header);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (this.now() >= entry.until) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.principal;
  }

  /** Remembers `principal` for `header`, whose token carries `exp` (seconds since the epoch). */
  set(header: string, principal: Principal, exp: number): void {
    const until = Math.min(exp * 1000, this.now() + VERIFIED_TOKEN_TTL_MS);
    if (!(until > this.now())) return;
    const key = digest(header);
    this.entries.delete(key);
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, { principal, until });
  }
}

function digest(header: string): string {
  return createHash('sha256').update(header).digest('base64');
}

/** The `exp` claim of a compact JWS, read without verifying (the caller verified it already); NaN if absent. */
export function expiryOf(header: string): number {
  const token = header.slice(header.lastIndexOf(' ') + 1);
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' ? payload.exp : Number.NaN;
  } catch {
    return Number.NaN;
  }
}
