/*
 * `npm run keys:generate [-- --kid <kid>]` prints a new ENCRYPTION_KEYS entry,
 * `kid:base64key`, alone on one line. Put it first in ENCRYPTION_KEYS to make
 * it the key that encrypts; see docs/operations.md for the rotation procedure.
 */
import { parseArgs } from 'node:util';
import { generateKeyEntry } from '../src/common/crypto/keyring';

const USAGE = 'usage: npm run keys:generate [-- --kid <kid>]   (kid: 1 to 32 characters of A-Z a-z 0-9 _ -; default k<UTC timestamp>)';

function main(): void {
  try {
    const { values } = parseArgs({
      args: process.argv.slice(2),
      options: { kid: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      return;
    }
    process.stdout.write(`${generateKeyEntry(values.kid)}\n`);
  } catch (error) {
    // Argument errors from parseArgs (ERR_PARSE_ARGS_*) and KeyringError name the problem, never key material.
    const message = error instanceof Error ? error.message : 'invalid arguments';
    process.stderr.write(`keys:generate: ${message}\n${USAGE}\n`);
    process.exit(2);
  }
}

main();
