#!/usr/bin/env node
/*
 * `npm test`: every Jest project against a real PostgreSQL. With DATABASE_URL
 * set it uses that server; without, it starts the embedded PostgreSQL under
 * .data-test first. Each run works in a database of its own (see
 * test/support/global-setup.ts), created and dropped around the run.
 */
const { spawnSync } = require('node:child_process');
const path = require('node:path');

async function main() {
  const env = { ...process.env, NODE_ENV: 'test' };
  // Tests start throwaway clusters from the bundled binaries as the postgres user; make them reachable.
  require('ts-node').register({ transpileOnly: true, compilerOptions: { module: 'commonjs' } });
  const embedded = require('../src/database/embedded-database');
  const binaries = embedded.embeddedBinariesDirectory();
  if (binaries) {
    const opened = embedded.ensurePostgresCanReach(binaries);
    if (opened.length) console.log(`npm test: let the postgres user traverse ${opened.join(', ')}`);
  }
  let stop = async () => {};
  if (!env.DATABASE_URL) {
    const { startEmbeddedDatabase } = embedded;
    const dataDir = path.resolve(__dirname, '..', '.data-test');
    const db = await startEmbeddedDatabase(dataDir, (m) => console.log(m), 'postgres');
    env.DATABASE_URL = db.url;
    stop = db.stop;
    console.log('npm test: on the embedded PostgreSQL');
  } else {
    console.log('npm test: on DATABASE_URL');
  }
  const args = [require.resolve('jest/bin/jest'), ...process.argv.slice(2)];
  const result = spawnSync(process.execPath, args, { stdio: 'inherit', env });
  await stop();
  process.exit(result.status ?? 1);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
