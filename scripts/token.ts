/*
 * `npm run token -- --tenant acme --roles admin [--sub alice] [--ttl 1h]`
 *
 * Prints a development JWT (HS256) the service accepts: signed with
 * AUTH_JWT_SECRET, or else with the development secret under DATA_DIR that
 * `npm start` uses. Notes go to stderr; the token is alone on the last line of
 * stdout, so `TOKEN=$(npm run -s token -- --roles platform-admin | tail -1)` works.
 */
import { parseArgs } from 'node:util';
import { sign } from 'jsonwebtoken';
import { ConfigError, loadConfig } from '../src/config/app-config';
import { devSecretsPath, readOrCreateDevSecrets } from '../src/config/dev-secrets';

const USAGE = `usage: npm run token -- --roles <role[,role…]> [--tenant <tenant>] [--sub <user>] [--ttl <duration>]

  --roles   comma-separated: viewer, editor, admin, platform-admin
  --tenant  the tenant the token acts in (optional with platform-admin)
  --sub     the user (default "dev-user")
  --ttl     lifetime: seconds, or a number followed by s, m, h or d (default 1h)`;

const KNOWN_ROLES = new Set(['viewer', 'editor', 'admin', 'platform-admin']);
const ID = /^[A-Za-z0-9_-]{1,64}$/;
const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

class UsageError extends Error {}

function parseTtl(text: string): number {
  const match = /^(\d{1,9})([smhd]?)$/.exec(text);
  const seconds = match ? Number(match[1]) * UNITS[match[2] || 's'] : 0;
  if (seconds < 1 || seconds > 366 * 86400) throw new UsageError('--ttl must be a duration from 1s to 366d, such as 900, 30m, 1h or 7d');
  return seconds;
}

function parse(argv: string[]): { tenant: string | null; roles: string[]; sub: string; ttl: number } {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        tenant: { type: 'string' },
        roles: { type: 'string' },
        sub: { type: 'string' },
        ttl: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : 'invalid arguments');
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const roles = String(values.roles ?? '')
    .split(',')
    .map((role) => role.trim())
    .filter(Boolean);
  if (roles.length === 0) throw new UsageError('--roles is required');
  for (const role of roles) {
    if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(role)) throw new UsageError(`--roles: "${role}" is not a role name`);
    if (!KNOWN_ROLES.has(role)) process.stderr.write(`note: "${role}" is not a role the service knows\n`);
  }
  const tenant = typeof values.tenant === 'string' ? values.tenant : null;
  if (tenant !== null && !ID.test(tenant)) throw new UsageError('--tenant must match ^[A-Za-z0-9_-]{1,64}$');
  if (tenant === null && !roles.includes('platform-admin')) throw new UsageError('--tenant is required unless --roles includes platform-admin');
  const sub = typeof values.sub === 'string' ? values.sub : 'dev-user';
  if (sub.length === 0 || sub.length > 256) throw new UsageError('--sub must be 1 to 256 characters');
  return { tenant, roles, sub, ttl: parseTtl(typeof values.ttl === 'string' ? values.ttl : '1h') };
}

function main(): void {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`token: ${error.message}\n${USAGE}\n`);
    process.exit(2);
  }
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  let secret = config.auth.jwtSecret;
  if (!secret) {
    if (config.auth.jwksUrl) {
      process.stderr.write('token: AUTH_JWKS_URL is set, so the service only accepts tokens from your identity provider\n');
      process.exit(1);
    }
    if (config.nodeEnv === 'production') {
      process.stderr.write('token: AUTH_JWT_SECRET is not set, and production never uses the development secret\n');
      process.exit(1);
    }
    secret = readOrCreateDevSecrets(config.dataDir).jwtSecret;
    process.stderr.write(`token: signed with the development secret in ${devSecretsPath(config.dataDir)}\n`);
  }
  const payload: Record<string, unknown> = { [config.auth.rolesClaim]: args.roles };
  if (args.tenant !== null) payload[config.auth.tenantClaim] = args.tenant;
  const token = sign(payload, secret, {
    algorithm: 'HS256',
    subject: args.sub,
    expiresIn: args.ttl,
    ...(config.auth.issuer ? { issuer: config.auth.issuer } : {}),
    ...(config.auth.audience ? { audience: config.auth.audience } : {}),
  });
  process.stderr.write(
    `token: sub=${args.sub} ${args.tenant ? `tenant=${args.tenant} ` : ''}roles=${args.roles.join(',')} expires in ${args.ttl}s\n`,
  );
  process.stdout.write(`${token}\n`);
}

main();
