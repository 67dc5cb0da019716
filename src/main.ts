import 'reflect-metadata';
import { loadConfig, ConfigError } from './config/app-config';
import { withDevelopmentSecrets } from './config/dev-secrets';
import { createApp } from './create-app';
import { startEmbeddedDatabase } from './database/embedded-database';

async function bootstrap(): Promise<void> {
  const warn = (message: string) => process.stderr.write(`${JSON.stringify({ level: 40, time: Date.now(), msg: message })}\n`);
  let config;
  try {
    config = withDevelopmentSecrets(loadConfig(), warn);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  let databaseUrl = config.databaseUrl;
  let stopEmbedded: (() => Promise<void>) | null = null;
  if (!databaseUrl) {
    warn(`DATABASE_URL is not set: starting the embedded PostgreSQL under ${config.dataDir}`);
    const embedded = await startEmbeddedDatabase(config.dataDir, warn);
    databaseUrl = embedded.url;
    stopEmbedded = embedded.stop;
  }
  const app = await createApp({ ...config, databaseUrl });
  // Graceful shutdown: stop accepting, let in-flight requests finish, close the pool, stop the
  // embedded database, then exit 0.
  let shuttingDown = false;
  const shutdown = (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    warn(`${signal} received: finishing in-flight requests`);
    app
      .close()
      .then(() => stopEmbedded?.())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  await app.listen({ port: config.port, host: config.host });
  warn(`Switchboard listening on http://${config.host}:${config.port}`);
}

void bootstrap().catch((error: unknown) => {
  process.stderr.write(`startup failed: ${error instanceof Error ? error.message : 'unknown error'}\n`);
  process.exit(1);
});
