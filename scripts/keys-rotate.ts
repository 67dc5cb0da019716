/*
 * `npm run keys:rotate [-- --data] [--batch 100]`, in the service's environment
 * (DATABASE_URL or the embedded database under DATA_DIR; ENCRYPTION_KEYS or the
 * development key), while the service runs.
 *
 * 1. Re-wraps every tenant data key under the first key of ENCRYPTION_KEYS;
 *    afterwards the other master keys can be removed from the list.
 * 2. With --data, also gives every tenant a new data key and re-encrypts every
 *    stored secret under it, one row per short transaction.
 *
 * Idempotent and resumable: after a kill, run it again. Prints counts, never a key.
 * Exit codes: 0 done, 1 failed (or secrets that cannot be decrypted remain), 2 bad arguments.
 */
import 'reflect-metadata';
import { parseArgs } from 'node:util';
import type { DataSource } from 'typeorm';
import { CryptoService } from '../src/common/crypto/crypto.service';
import { KeyringError, parseKeyring } from '../src/common/crypto/keyring';
import { PgTenantKeyStore } from '../src/common/crypto/pg-tenant-key.store';
import { KeyRotation } from '../src/common/crypto/rotation';
import { ConfigError, loadConfig } from '../src/config/app-config';
import { readOrCreateDevSecrets } from '../src/config/dev-secrets';
import { createDataSource } from '../src/database/data-source';
import { startEmbeddedDatabase } from '../src/database/embedded-database';

const USAGE = `usage: npm run keys:rotate [-- --data] [--batch <rows>]

  --data    also rotate every tenant's data key and re-encrypt every stored secret
  --batch   keys or rows per batch, 1 to 10000 (default 100)`;

const log = (message: string) => process.stdout.write(`${message}\n`);
const fail = (message: string, code = 1): never => {
  process.stderr.write(`keys:rotate: ${message}\n`);
  process.exit(code);
};

function parse(argv: string[]): { data: boolean; batch: number } {
  try {
    const { values } = parseArgs({
      args: argv,
      options: { data: { type: 'boolean' }, batch: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    const batch = values.batch === undefined ? 100 : /^\d{1,5}$/.test(values.batch) ? Number(values.batch) : NaN;
    if (!(batch >= 1 && batch <= 10_000)) throw new Error('--batch must be an integer from 1 to 10000');
    return { data: values.data === true, batch };
  } catch (error) {
    return fail(`${error instanceof Error ? error.message : 'invalid arguments'}\n${USAGE}`, 2);
  }
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  let spec = config.encryptionKeys;
  if (!spec) {
    if (config.nodeEnv === 'production') fail('ENCRYPTION_KEYS is required in production');
    spec = readOrCreateDevSecrets(config.dataDir).encryptionKeys;
    log('ENCRYPTION_KEYS is not set: using the development key under DATA_DIR');
  }
  let keys;
  try {
    keys = parseKeyring(spec);
  } catch (error) {
    if (error instanceof KeyringError) fail(error.message);
    throw error;
  }
  log(`first (encrypting) master key: "${keys[0].kid}"; keys that decrypt: ${keys.map((k) => `"${k.kid}"`).join(', ')}`);

  let url = config.databaseUrl;
  let stopEmbedded: () => Promise<void> = async () => undefined;
  if (!url) {
    log(`DATABASE_URL is not set: starting the embedded PostgreSQL under ${config.dataDir}`);
    const embedded = await startEmbeddedDatabase(config.dataDir, log).catch(() =>
      fail(
        `the embedded PostgreSQL under ${config.dataDir} could not be started. A running service holds it: stop the service ` +
          'and run this again, or point DATABASE_URL at the database the service uses.',
      ),
    );
    url = embedded.url;
    stopEmbedded = embedded.stop;
  }
  let dataSource: DataSource | null = null;
  let unreadable = 0;
  try {
    dataSource = await createDataSource(url).initialize();
    const [schema]: { present: boolean }[] = await dataSource.query(`SELECT to_regclass('tenant_data_keys') IS NOT NULL AS present`);
    if (!schema?.present) {
      log('the database has no Switchboard schema yet (the service creates it at start): nothing to rotate');
      return;
    }
    const rotation = new KeyRotation(dataSource, new CryptoService(keys, new PgTenantKeyStore(dataSource)), { log });
    const rewrapped = await rotation.rewrapAll(args.batch);
    if (args.data) {
      unreadable = (await rotation.reencryptAll(args.batch)).unreadable;
    }
    if (unreadable > 0) {
      process.stderr.write(`keys:rotate: ${unreadable} stored secrets could not be decrypted (see above); they were left as they were\n`);
      process.exitCode = 1;
    } else {
      const others = keys.slice(1).map((k) => `"${k.kid}"`);
      log(
        `keys:rotate: done (${rewrapped.dataKeys} data keys re-wrapped${args.data ? ', data keys rotated' : ''})` +
          (others.length > 0 ? `; only "${keys[0].kid}" is needed now: ${others.join(', ')} can be removed from ENCRYPTION_KEYS` : ''),
      );
    }
  } finally {
    await dataSource?.destroy();
    await stopEmbedded();
  }
}

main().catch((error: unknown) => {
  // Messages of ours name kids and ids, never key material; anything else is summarised.
  const message = error instanceof KeyringError || error instanceof RangeError ? error.message : error instanceof Error ? `${error.name}: ${error.message}` : 'unknown error';
  process.stderr.write(`keys:rotate: failed: ${message}\nNothing is lost: every row is changed in its own transaction. Fix the cause and run it again.\n`);
  process.exit(1);
});
