import { randomBytes } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { loadConfig, type AppConfig } from '../../src/config/app-config';
import { createApp } from '../../src/create-app';
import { TEST_JWT_SECRET } from './tokens';

export const TEST_ENCRYPTION_KEYS = `test1:${Buffer.alloc(32, 7).toString('base64')}`;

/** The real AppModule on this run's database, configured through the same loader production uses. */
export async function startTestApp(env: Record<string, string> = {}): Promise<{ app: NestFastifyApplication; config: AppConfig }> {
  const databaseUrl = process.env.TEST_DATABASE_URL;
  if (!databaseUrl) throw new Error('TEST_DATABASE_URL is not set: run through npm test');
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: databaseUrl,
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    RATE_LIMIT_PER_MINUTE: '0',
    LOG_LEVEL: 'silent',
    OUTBOUND_ALLOWED_HOSTS: '127.0.0.1',
    ...env,
  });
  const app = await createApp({ ...config, databaseUrl: config.databaseUrl ?? databaseUrl });
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return { app, config };
}

/** A tenant id no other test uses. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}
