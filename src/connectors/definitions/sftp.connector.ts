import { createHash } from 'node:crypto';
import { Client, type ConnectConfig, type FileEntryWithStats, type SFTPWrapper } from 'ssh2';
import { CheckError } from '../../common/outbound/check-error';
import type { CheckContext, ConnectorDefinition } from '../connector.types';
import { auth, params } from '../metadata-builders';
import {
  errorMessage,
  formatTarget,
  integerParam,
  optionalSecret,
  requireSecret,
  requireString,
  runGuardedCheck,
  secretValues,
  stringParam,
} from './tcp-errors';

/** SFTP status codes (draft-ietf-secsh-filexfer-02, section 7) that get a message of their own. */
const SFTP_NO_SUCH_FILE = 2;
const SFTP_PERMISSION_DENIED = 3;

interface SftpLogin {
  host: string;
  port: number;
  path: string;
  username: string;
  password?: string;
  privateKey?: string;
  passphrase?: string;
}

/** OpenSSH's form: `SHA256:` and the unpadded base64 of the key blob's SHA-256. */
function hostKeyFingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

function normalizeFingerprint(value: string): string {
  const trimmed = value.trim().replace(/=+$/, '');
  return /^sha256:/i.test(trimmed) ? `SHA256:${trimmed.slice('sha256:'.length)}` : trimmed;
}

function readLogin(ctx: CheckContext): SftpLogin {
  const base = {
    host: requireString(ctx.parameters, 'host', 'parameter'),
    port: integerParam(ctx.parameters, 'port', 22, 1, 65535),
    path: stringParam(ctx.parameters, 'path', '/') ?? '/',
    username: requireString(ctx.credentials, 'username', 'credential'),
  };
  if (ctx.auth.type === 'USER_PASSWORD') return { ...base, password: requireSecret(ctx.credentials, 'password') };
  if (ctx.auth.type !== 'KEY_FILE') {
    throw new CheckError('CONFIG_INVALID', `auth method type ${ctx.auth.type} is not supported by sftp`);
  }
  // ssh2 parses the key in connect(), before it opens a socket; see classifySftpError.
  return { ...base, privateKey: requireSecret(ctx.credentials, 'privateKey'), passphrase: optionalSecret(ctx.credentials, 'passphrase') };
}

interface HostKeyMismatch {
  expected: string;
  got: string;
}

function classifySftpError(err: unknown, login: SftpLogin | undefined, target: string, mismatch: HostKeyMismatch | undefined): CheckError | undefined {
  if (mismatch) {
    return new CheckError('TLS_ERROR', `host key changed (expected ${mismatch.expected}, got ${mismatch.got})`);
  }
  if (typeof err !== 'object' || err === null) return undefined;
  const { level, code } = err as { level?: unknown; code?: unknown };
  const message = errorMessage(err);
  // Thrown by ssh2's connect() before it opens a socket; its own words may quote the key, ours do not.
  if (/^Cannot parse privateKey|does not contain a \(valid\) private key/.test(message)) {
    return new CheckError(
      'CONFIG_INVALID',
      login?.passphrase === undefined
        ? 'the private key could not be read (is it PEM or OpenSSH, and does it need a passphrase?)'
        : 'the private key could not be read (is the passphrase right?)',
    );
  }
  switch (level) {
    case 'client-authentication':
      return new CheckError('AUTH_FAILED', `authentication failed for user ${login?.username ?? ''}`);
    case 'client-timeout':
      return new CheckError('TIMEOUT', `${target} did not complete the SSH handshake in time`);
    case 'handshake':
      return new CheckError('TLS_ERROR', `SSH handshake with ${target} failed (no common algorithms)`);
    case 'protocol':
      return new CheckError('UPSTREAM_ERROR', `${target} broke the SSH protocol or disconnected`);
    default:
      break;
  }
  if (/Unable to start subsystem/i.test(message)) return new CheckError('UPSTREAM_ERROR', `${target} does not offer SFTP`);
  if (code === SFTP_NO_SUCH_FILE) return new CheckError('UPSTREAM_ERROR', `path ${login?.path ?? ''} does not exist`);
  if (code === SFTP_PERMISSION_DENIED) {
    return new CheckError('UPSTREAM_ERROR', `user ${login?.username ?? ''} may not list ${login?.path ?? ''}`);
  }
  if (typeof code === 'number') return new CheckError('UPSTREAM_ERROR', `listing ${login?.path ?? ''} failed (SFTP status ${code})`);
  if (message === 'connection closed before login') return new CheckError('UPSTREAM_ERROR', `${target} closed the connection`);
  return undefined;
}

async function checkSftp(ctx: CheckContext) {
  let login: SftpLogin | undefined;
  let target = '';
  let mismatch: HostKeyMismatch | undefined;
  let client: Client | undefined;
  const secrets = secretValues(ctx);
  return runGuardedCheck(ctx, {
    secrets,
    target: () => target,
    classify: (err) => classifySftpError(err, login, target, mismatch),
    destroy: () => {
      client?.destroy();
    },
    work: async ({ details, assertActive }) => {
      const current = (login = readLogin(ctx));
      target = formatTarget(current.host, current.port);
      const resolved = await ctx.outbound.resolve(current.host);
      assertActive();
      const known = ctx.knownHostKey ? normalizeFingerprint(ctx.knownHostKey) : undefined;
      const config: ConnectConfig = {
        host: resolved.address,
        port: current.port,
        username: current.username,
        readyTimeout: ctx.timeoutMs,
        keepaliveInterval: 0,
        // Runs before any authentication: a changed key never sees the credentials.
        hostVerifier: (key: Buffer) => {
          const fingerprint = hostKeyFingerprint(key);
          if (known !== undefined && fingerprint !== known) {
            mismatch = { expected: known, got: fingerprint };
            details.presentedHostKeyFingerprint = fingerprint;
            return false;
          }
          details.hostKeyFingerprint = fingerprint;
          return true;
        },
        ...(current.privateKey !== undefined
          ? { privateKey: current.privateKey, passphrase: current.passphrase }
          : { password: current.password, tryKeyboard: true }),
      };
      const connection = (client = new Client());
      // An 'error' event without a listener would throw out of the emitter.
      connection.on('error', () => undefined);
      if (current.password !== undefined) {
        const password = current.password;
        connection.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) => finish(prompts.map(() => password)));
      }
      try {
        await new Promise<void>((resolve, reject) => {
          connection.once('ready', () => resolve());
          connection.once('error', reject);
          connection.once('close', () => reject(new Error('connection closed before login')));
          connection.connect(config);
        });
        const sftp = await new Promise<SFTPWrapper>((resolve, reject) => {
          connection.sftp((err, channel) => (err ? reject(err) : resolve(channel)));
        });
        const entries = await new Promise<FileEntryWithStats[]>((resolve, reject) => {
          sftp.readdir(current.path, (err, list) => (err ? reject(err) : resolve(list)));
        });
        return { hostKeyFingerprint: details.hostKeyFingerprint, entries: entries.length };
      } finally {
        connection.end();
      }
    },
  });
}

export const sftpConnector: ConnectorDefinition = {
  key: 'sftp',
  displayName: 'SFTP',
  description: 'An SSH server offering SFTP. Verified by logging in and listing a directory; its host key is pinned after the first success.',
  category: 'protocol',
  verifiable: true,
  configMetadata: {
    parametersMetadata: params(
      { name: 'host', type: 'String', required: true, displayName: 'Host', description: 'Server host name or address.' },
      { name: 'port', type: 'Integer', defaultValue: 22, integerRange: { min: 1, max: 65535 }, displayName: 'Port' },
      { name: 'path', type: 'String', defaultValue: '/', displayName: 'Path', description: 'The directory listed by the check.' },
    ),
    authMetadata: [
      auth({
        type: 'USER_PASSWORD',
        displayName: 'User name and password',
        credentials: [
          { name: 'username', type: 'String', secret: false, displayName: 'User name' },
          { name: 'password', type: 'String', displayName: 'Password' },
        ],
      }),
      auth({
        type: 'KEY_FILE',
        displayName: 'Private key',
        credentials: [
          { name: 'username', type: 'String', secret: false, displayName: 'User name' },
          { name: 'privateKey', type: 'String', displayName: 'Private key', description: 'PEM or OpenSSH private key.' },
          { name: 'passphrase', type: 'String', required: false, displayName: 'Passphrase', description: 'Only for an encrypted key.' },
        ],
      }),
    ],
  },
  destinationParameters: ['host', 'port'],
  check: checkSftp,
};
