import { ConfigError, loadConfig } from './app-config';

const KEYS = `k1:${Buffer.alloc(32, 1).toString('base64')}`;
const LONG_SECRET = 'a-production-secret-of-at-least-32-bytes-0123456789';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected loadConfig to refuse');
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      nodeEnv: 'development',
      port: 3000,
      host: '0.0.0.0',
      databaseUrl: null,
      encryptionKeys: null,
      auth: { jwtSecret: null, jwksUrl: null, issuer: null, audience: null, tenantClaim: 'tenant_id', rolesClaim: 'roles' },
      outbound: { allowPrivate: false, allowedHosts: [] },
      maxConnectionsPerIntegration: 50,
      webhookRetryBaseMs: 5000,
      healthCheckIntervalMinutes: 0,
      oauth2ReturnUrl: null,
      dataKeyCacheSize: 10000,
    });
  });

  it('treats empty and blank values as unset', () => {
    const config = loadConfig({ PORT: '', AUTH_JWT_SECRET: '', AUTH_JWKS_URL: '  ', DATABASE_URL: '' });
    expect(config.port).toBe(3000);
    expect(config.auth.jwtSecret).toBeNull();
    expect(config.auth.jwksUrl).toBeNull();
    expect(config.databaseUrl).toBeNull();
  });

  it('lets AUTH_JWKS_URL replace an emptied AUTH_JWT_SECRET', () => {
    const config = loadConfig({ AUTH_JWT_SECRET: '', AUTH_JWKS_URL: 'http://127.0.0.1:9999/jwks.json' });
    expect(config.auth).toMatchObject({ jwtSecret: null, jwksUrl: 'http://127.0.0.1:9999/jwks.json' });
  });

  it('reads every documented variable', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'debug',
      DATABASE_URL: 'postgresql://u@db:5432/x',
      AUTH_ISSUER: 'https://idp/',
      AUTH_AUDIENCE: 'api',
      AUTH_TENANT_CLAIM: 'org',
      AUTH_ROLES_CLAIM: 'perms',
      PUBLIC_URL: 'https://switchboard.example.com/',
      OUTBOUND_ALLOW_PRIVATE: 'true',
      OUTBOUND_ALLOWED_HOSTS: 'api.internal, 10.0.0.0/8,192.168.1.5',
      VERIFY_TIMEOUT_MS: '5000',
      MAX_CONNECTIONS_PER_INTEGRATION: '7',
      RATE_LIMIT_PER_MINUTE: '0',
      OAUTH2_RETURN_URL: 'https://app.example.com/done',
      HEALTH_CHECK_INTERVAL_MINUTES: '15',
      DATA_KEY_CACHE_SIZE: '0',
    });
    expect(config).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      logLevel: 'debug',
      databaseUrl: 'postgresql://u@db:5432/x',
      auth: { issuer: 'https://idp/', audience: 'api', tenantClaim: 'org', rolesClaim: 'perms' },
      publicUrl: 'https://switchboard.example.com',
      outbound: { allowPrivate: true, allowedHosts: ['api.internal', '10.0.0.0/8', '192.168.1.5'] },
      verify: { timeoutMs: 5000 },
      maxConnectionsPerIntegration: 7,
      rateLimitPerMinute: 0,
      oauth2ReturnUrl: 'https://app.example.com/done',
      healthCheckIntervalMinutes: 15,
      dataKeyCacheSize: 0,
    });
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['PORT', '3000.5'],
    ['VERIFY_TIMEOUT_MS', '5'],
    ['OUTBOUND_ALLOW_PRIVATE', 'maybe'],
    ['LOG_LEVEL', 'verbose'],
    ['NODE_ENV', 'staging'],
    ['DATABASE_URL', 'mysql://u:p@h/db'],
    ['AUTH_JWKS_URL', 'file:///etc/passwd'],
    ['OUTBOUND_ALLOWED_HOSTS', 'ok.host,bad host!'],
    ['HEALTH_CHECK_INTERVAL_MINUTES', '10081'],
    ['DATA_KEY_CACHE_SIZE', '-1'],
  ])('refuses a bad %s, naming it but never printing its value', (name, value) => {
    const error = configError({ [name]: value });
    expect(error.message).toContain(name);
    expect(error.message).not.toContain(value);
  });

  it('reports every bad variable at once', () => {
    const error = configError({ PORT: 'x', LOG_LEVEL: 'y', RATE_LIMIT_PER_MINUTE: '-1' });
    expect(error.problems).toHaveLength(3);
  });

  it('refuses both AUTH_JWT_SECRET and AUTH_JWKS_URL', () => {
    expect(configError({ AUTH_JWT_SECRET: LONG_SECRET, AUTH_JWKS_URL: 'https://idp/jwks' }).message).toMatch(/only one of AUTH_JWT_SECRET and AUTH_JWKS_URL/);
  });

  describe('in production', () => {
    const production = { NODE_ENV: 'production', ENCRYPTION_KEYS: KEYS, AUTH_JWT_SECRET: LONG_SECRET };

    it('starts with ENCRYPTION_KEYS and a long enough secret', () => {
      expect(loadConfig(production).nodeEnv).toBe('production');
    });

    it('refuses to start without ENCRYPTION_KEYS', () => {
      expect(configError({ ...production, ENCRYPTION_KEYS: '' }).message).toContain('ENCRYPTION_KEYS');
    });

    it('refuses to start without any token verification configured', () => {
      expect(configError({ NODE_ENV: 'production', ENCRYPTION_KEYS: KEYS }).message).toMatch(/AUTH_JWT_SECRET or AUTH_JWKS_URL/);
    });

    it('refuses a short AUTH_JWT_SECRET, naming the variable but not its value', () => {
      const error = configError({ ...production, AUTH_JWT_SECRET: 'short-secret-value' });
      expect(error.message).toContain('AUTH_JWT_SECRET');
      expect(error.message).not.toContain('short-secret-value');
    });

    it('never prints ENCRYPTION_KEYS or the database password in a refusal', () => {
      const error = configError({ ...production, AUTH_JWT_SECRET: 'tiny', DATABASE_URL: 'postgresql://u:db-password-123@h/db', PORT: 'x' });
      expect(error.message).not.toContain(KEYS);
      expect(error.message).not.toContain('db-password-123');
    });
  });
});
