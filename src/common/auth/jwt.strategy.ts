import type { Algorithm } from 'jsonwebtoken';
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { JwksClient } from 'jwks-rsa';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import { PLATFORM_ADMIN, TENANT_ROLES, type Principal, type Role } from './principal';

const KNOWN_ROLES = new Set<string>([...TENANT_ROLES, PLATFORM_ADMIN]);
const TENANT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Verifies Bearer JWTs. Keys are KeyObjects parsed once (a PEM re-parsed per
 * request halves throughput); the JWKS key set is cached whole and fetched again
 * for an unknown `kid` at most once per cooldown (see jwksKeyProvider). `jku`/`x5u`
 * headers are never read.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  private readonly tenantClaim: string;
  private readonly rolesClaim: string;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    super(strategyOptions(config));
    this.tenantClaim = config.auth.tenantClaim;
    this.rolesClaim = config.auth.rolesClaim;
  }

  validate(payload: Record<string, unknown>): Principal | false {
    // jsonwebtoken checks exp only when present; a token without one would never expire.
    if (typeof payload.exp !== 'number') return false;
    const sub = payload.sub;
    if (typeof sub !== 'string' || sub.length === 0 || sub.length > 256) return false;
    const rawRoles = payload[this.rolesClaim];
    const roles = (Array.isArray(rawRoles) ? rawRoles : typeof rawRoles === 'string' ? rawRoles.split(' ') : []).filter(
      (r): r is Role => typeof r === 'string' && KNOWN_ROLES.has(r),
    );
    const rawTenant = payload[this.tenantClaim];
    const tenantId = typeof rawTenant === 'string' && TENANT_ID.test(rawTenant) ? rawTenant : null;
    return { sub, tenantId, roles, platformAdmin: roles.includes(PLATFORM_ADMIN) };
  }
}

function strategyOptions(config: AppConfig) {
  const auth = config.auth;
  const common = {
    jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
    ignoreExpiration: false,
    issuer: auth.issuer ?? undefined,
    audience: auth.audience ?? undefined,
    jsonWebTokenOptions: { clockTolerance: 30 },
  };
  if (auth.jwksUrl) {
    return { ...common, algorithms: ['RS256', 'ES256'] as Algorithm[], secretOrKeyProvider: jwksKeyProvider(auth.jwksUrl) };
  }
  if (!auth.jwtSecret) throw new Error('AUTH_JWT_SECRET or AUTH_JWKS_URL must be configured');
  return { ...common, algorithms: ['HS256'] as Algorithm[], secretOrKey: createSecretKey(Buffer.from(auth.jwtSecret, 'utf8')) as unknown as string };
}

/** A fetched key set verifies for at most this long: a key the provider withdraws stops verifying by then. */
export const JWKS_KEY_TTL_MS = 10 * 60 * 1000;
/** After a fetch (successful or not), an unknown kid is answered from the cached set for this long, without a fetch. */
export const JWKS_REFETCH_COOLDOWN_MS = 10 * 1000;
const JWKS_MAX_KEYS = 100;

type KeyCallback = (err: Error | null, key?: string | Buffer) => void;

/** The part of jwks-rsa's client the provider uses (a seam for unit tests). */
export type JwksKeySource = Pick<JwksClient, 'getSigningKeys'>;

/**
 * A passport-jwt `secretOrKeyProvider` over a JWKS. The whole key set is cached as kid → KeyObject
 * with its fetch time. A kid missing from the set triggers a refetch only if the last fetch attempt
 * is older than JWKS_REFETCH_COOLDOWN_MS; otherwise it is refused from the cached set. Concurrent
 * requests share one in-flight fetch. So forged kids cost at most one fetch per cooldown, and a key
 * the provider has just rotated in is picked up by the first request after the cooldown.
 */
export function jwksKeyProvider(
  jwksUri: string,
  // Rate limiting is done here (the cooldown); jwks-rsa's own limiter and cache only wrap getSigningKey.
  client: JwksKeySource = new JwksClient({ jwksUri, cache: false, rateLimit: false, timeout: 5000 }),
  now: () => number = Date.now,
) {
  let keySet: { keys: Map<string, KeyObject>; at: number } | undefined;
  let lastAttempt = Number.NEGATIVE_INFINITY;
  let inFlight: Promise<void> | undefined;

  const refresh = (): Promise<void> =>
    (inFlight ??= (async () => {
      lastAttempt = now();
      try {
        const keys = new Map<string, KeyObject>();
        for (const signingKey of await client.getSigningKeys()) {
          if (!signingKey.kid || keys.size >= JWKS_MAX_KEYS) continue;
          try {
            keys.set(signingKey.kid, createPublicKey(signingKey.getPublicKey()));
          } catch {
            // An unparseable key verifies nothing; the others still do.
          }
        }
        keySet = { keys, at: now() };
      } catch {
        // Keep the previous set until it expires; the cooldown spaces out retries.
      }
    })().finally(() => {
      inFlight = undefined;
    }));

  const freshKey = (kid: string): KeyObject | undefined =>
    keySet && now() - keySet.at < JWKS_KEY_TTL_MS ? keySet.keys.get(kid) : undefined;

  const keyFor = async (kid: string): Promise<KeyObject | undefined> => {
    const cached = freshKey(kid);
    if (cached) return cached;
    if (inFlight) await inFlight;
    else if (now() - lastAttempt >= JWKS_REFETCH_COOLDOWN_MS) await refresh();
    else return undefined; // Unknown kid (or expired set) within the cooldown: no fetch.
    return freshKey(kid);
  };

  return (_request: unknown, rawJwt: string, done: KeyCallback): void => {
    let kid: string | undefined;
    try {
      const header = JSON.parse(Buffer.from(rawJwt.split('.')[0], 'base64url').toString('utf8')) as { kid?: unknown };
      kid = typeof header.kid === 'string' && /^[A-Za-z0-9._-]{1,128}$/.test(header.kid) ? header.kid : undefined;
    } catch {
      kid = undefined;
    }
    if (!kid) return done(new Error('token has no usable kid'));
    keyFor(kid).then(
      (key) => (key ? done(null, key as unknown as string) : done(new Error('signing key not found'))),
      () => done(new Error('signing key not found')),
    );
  };
}
