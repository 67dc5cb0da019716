import { isIP } from 'node:net';

/** The typed configuration, read once at boot. Nothing else reads process.env. */
export interface AppConfig {
  nodeEnv: 'production' | 'development' | 'test';
  port: number;
  host: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Unset: the embedded PostgreSQL under dataDir. */
  databaseUrl: string | null;
  dataDir: string;
  /** Raw ENCRYPTION_KEYS; null means "generate a development key under dataDir". */
  encryptionKeys: string | null;
  auth: {
    jwtSecret: string | null;
    jwksUrl: string | null;
    issuer: string | null;
    audience: string | null;
    tenantClaim: string;
    rolesClaim: string;
  };
  publicUrl: string;
  outbound: { allowPrivate: boolean; allowedHosts: string[] };
  verify: { timeoutMs: number; maxInFlightPerTenant: number; maxPerMinutePerTenant: number };
  maxConnectionsPerIntegration: number;
  webhookRetryBaseMs: number;
  /** Minutes between periodic re-checks of each integration and connection; 0 turns them off. */
  healthCheckIntervalMinutes: number;
  rateLimitPerMinute: number;
  oauth2ReturnUrl: string | null;
  /** Unwrapped tenant data keys held in memory (LRU); 0 reads every key from the database. */
  dataKeyCacheSize: number;
}

export const APP_CONFIG = Symbol('APP_CONFIG');

/** Thrown at boot; its message names the variables, never their values (they may be secrets). */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

class Reader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  optional(name: string): string | null {
    return this.raw(name) ?? null;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!/^-?\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      this.problems.push(`${name} must be an integer from ${min} to ${max}`);
      return fallback;
    }
    return Number(value);
  }

  bool(name: string, fallback: boolean): boolean {
    const value = this.raw(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (['true', '1', 'yes'].includes(value)) return true;
    if (['false', '0', 'no'].includes(value)) return false;
    this.problems.push(`${name} must be true or false`);
    return fallback;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(value)) {
      this.problems.push(`${name} must be one of ${allowed.join(', ')}`);
      return fallback;
    }
    return value as T;
  }

  url(name: string, schemes: string[]): string | null {
    const value = this.raw(name);
    if (value === undefined) return null;
    try {
      const parsed = new URL(value);
      if (!schemes.includes(parsed.protocol)) throw new Error('scheme');
      return value.replace(/\/+$/, '');
    } catch {
      this.problems.push(`${name} must be a ${schemes.join(' or ')} URL`);
      return null;
    }
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function loadConfig(env: Env = process.env): AppConfig {
  const r = new Reader(env);
  const nodeEnv = r.oneOf('NODE_ENV', ['production', 'development', 'test'] as const, 'development');
  const port = r.int('PORT', 3000, 0, 65535);
  const databaseUrl = r.url('DATABASE_URL', ['postgres:', 'postgresql:']);
  const jwtSecret = r.optional('AUTH_JWT_SECRET');
  const jwksUrl = r.url('AUTH_JWKS_URL', ['http:', 'https:']);
  const encryptionKeys = r.optional('ENCRYPTION_KEYS');

  if (jwtSecret && jwksUrl) r.problems.push('set only one of AUTH_JWT_SECRET and AUTH_JWKS_URL');
  if (nodeEnv === 'production') {
    if (!encryptionKeys) r.problems.push('ENCRYPTION_KEYS is required in production');
    if (!jwtSecret && !jwksUrl) r.problems.push('AUTH_JWT_SECRET or AUTH_JWKS_URL is required in production');
    if (jwtSecret && Buffer.byteLength(jwtSecret) < 32) r.problems.push('AUTH_JWT_SECRET must be at least 32 bytes in production');
  }

  const allowedHosts = (r.raw('OUTBOUND_ALLOWED_HOSTS') ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
  for (const entry of allowedHosts) {
    const [addr, bits] = entry.split('/');
    const validName = /^[A-Za-z0-9.-]{1,253}$/.test(entry);
    const validCidr = bits !== undefined && isIP(addr) !== 0 && /^\d{1,3}$/.test(bits);
    if (!validName && isIP(entry) === 0 && !validCidr) {
      r.problems.push('OUTBOUND_ALLOWED_HOSTS must list host names, IP addresses or CIDRs separated by commas');
      break;
    }
  }

  const config: AppConfig = {
    nodeEnv,
    port,
    host: r.string('HOST', '0.0.0.0'),
    logLevel: r.oneOf('LOG_LEVEL', LOG_LEVELS, nodeEnv === 'test' ? 'silent' : 'info'),
    databaseUrl,
    dataDir: r.string('DATA_DIR', './.data'),
    encryptionKeys,
    auth: {
      jwtSecret,
      jwksUrl,
      issuer: r.optional('AUTH_ISSUER'),
      audience: r.optional('AUTH_AUDIENCE'),
      tenantClaim: r.string('AUTH_TENANT_CLAIM', 'tenant_id'),
      rolesClaim: r.string('AUTH_ROLES_CLAIM', 'roles'),
    },
    publicUrl: r.url('PUBLIC_URL', ['http:', 'https:']) ?? `http://localhost:${port}`,
    outbound: { allowPrivate: r.bool('OUTBOUND_ALLOW_PRIVATE', false), allowedHosts },
    verify: {
      timeoutMs: r.int('VERIFY_TIMEOUT_MS', 10000, 100, 120000),
      maxInFlightPerTenant: r.int('VERIFY_MAX_IN_FLIGHT_PER_TENANT', 5, 1, 1000),
      maxPerMinutePerTenant: r.int('VERIFY_MAX_PER_MINUTE_PER_TENANT', 60, 1, 100000),
    },
    maxConnectionsPerIntegration: r.int('MAX_CONNECTIONS_PER_INTEGRATION', 50, 1, 100000),
    webhookRetryBaseMs: r.int('WEBHOOK_RETRY_BASE_MS', 5000, 1, 3600000),
    healthCheckIntervalMinutes: r.int('HEALTH_CHECK_INTERVAL_MINUTES', 0, 0, 10080),
    rateLimitPerMinute: r.int('RATE_LIMIT_PER_MINUTE', 600, 0, 10000000),
    oauth2ReturnUrl: r.url('OAUTH2_RETURN_URL', ['http:', 'https:']),
    dataKeyCacheSize: r.int('DATA_KEY_CACHE_SIZE', 10000, 0, 10000000),
  };
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return config;
}
