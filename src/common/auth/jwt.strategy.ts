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
 * request halves throughput); JWKS keys are cached by `kid` and fetched again
 * only for an unknown `kid`. `jku`/`x5u` headers are never read.
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

const JWKS_KEY_TTL_MS = 10 * 60 * 1000;

type KeyCallback = (err: Error | null, key?: string | Buffer) => void;

function jwksKeyProvider(jwksUri: string) {
  const client = new JwksClient({ jwksUri, cache: false, rateLimit: true, jwksRequestsPerMinute: 10, timeout: 5000 });
  // Parsed keys by kid, for a bounded time: a key the provider withdraws stops verifying within JWKS_KEY_TTL_MS.
  const keys = new Map<string, { key: KeyObject; at: number }>();
  return (_request: unknown, rawJwt: string, done: KeyCallback): void => {
    let kid: string | undefined;
    try {
      const header = JSON.parse(Buffer.from(rawJwt.split('.')[0], 'base64url').toString('utf8')) as { kid?: unknown };
      kid = typeof header.kid === 'string' && /^[A-Za-z0-9._-]{1,128}$/.test(header.kid) ? header.kid : undefined;
    } catch {
      kid = undefined;
    }
    if (!kid) return done(new Error('token has no usable kid'));
    const cached = keys.get(kid);
    if (cached && Date.now() - cached.at < JWKS_KEY_TTL_MS) return done(null, cached.key as unknown as string);
    client
      .getSigningKey(kid)
      .then((signingKey) => {
        const key = createPublicKey(signingKey.getPublicKey());
        if (keys.size > 100) keys.clear();
        keys.set(kid, { key, at: Date.now() });
        done(null, key as unknown as string);
      })
      .catch(() => done(new Error('signing key not found')));
  };
}
