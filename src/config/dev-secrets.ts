import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AppConfig } from './app-config';

interface DevSecrets {
  jwtSecret: string;
  encryptionKeys: string;
}

/**
 * Outside production a missing JWT secret or encryption key is generated once
 * into DATA_DIR, so `npm start` works with no set-up. Production never gets here
 * (loadConfig refuses to start without them).
 */
export function withDevelopmentSecrets(config: AppConfig, warn: (message: string) => void): AppConfig {
  const needsJwt = !config.auth.jwtSecret && !config.auth.jwksUrl;
  const needsKeys = !config.encryptionKeys;
  if (!needsJwt && !needsKeys) return config;
  if (config.nodeEnv === 'production') throw new Error('development secrets are never used in production');
  const secrets = readOrCreateDevSecrets(config.dataDir);
  if (needsJwt) warn(`AUTH_JWT_SECRET is not set: using the development secret in ${devSecretsPath(config.dataDir)}`);
  if (needsKeys) warn(`ENCRYPTION_KEYS is not set: using the development key in ${devSecretsPath(config.dataDir)}`);
  return {
    ...config,
    encryptionKeys: needsKeys ? secrets.encryptionKeys : config.encryptionKeys,
    auth: { ...config.auth, jwtSecret: needsJwt ? secrets.jwtSecret : config.auth.jwtSecret },
  };
}

export function devSecretsPath(dataDir: string): string {
  return join(resolve(dataDir), 'dev-secrets.json');
}

export function readOrCreateDevSecrets(dataDir: string): DevSecrets {
  const path = devSecretsPath(dataDir);
  if (existsSync(path)) return JSON.parse(readFileSync(path, 'utf8')) as DevSecrets;
  mkdirSync(resolve(dataDir), { recursive: true });
  const secrets: DevSecrets = {
    jwtSecret: randomBytes(48).toString('base64url'),
    encryptionKeys: `dev1:${randomBytes(32).toString('base64')}`,
  };
  writeFileSync(path, JSON.stringify(secrets, null, 2), { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  return secrets;
}
