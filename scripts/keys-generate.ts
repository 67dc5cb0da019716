/*
 * `npm run keys:generate [-- --kid <kid>]` prints a new ENCRYPTION_KEYS entry,
 * `kid:base64key`, alone on one line. Put it first in ENCRYPTION_KEYS to make
 * it the key that encrypts; see docs/operations.md for the rotation procedure.
 */
import { parseArgs } from 'node:util';
import { KeyringError, generateKeyEntry } from '../src/common/crypto/keyring';

const USAGE = 'usage: npm run keys:generate [-- --kid <kid>]   (kid: 1 to 32 characters of A-Z a-z 0-9 _ -; default k<UTC timestamp>)';

function main(): void {
  let kid: string | undefined;
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
    kid = values.kid;
    process.stdout.write(`${generateKeyEntry(kid)}\n`);
  } catch (error) {
    const message = error instanceof KeyringError || (error instanceof Error && 'code' in error) ? error.message : 'invalid arguments';
    process.stderr.write(`keys:generate: ${message}\n${USAGE}\n`);
    process.exit(2);
  }
}

main();
