import { createHash, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Server, utils, type AuthContext, type Connection, type ParsedKey, type SFTPWrapper } from 'ssh2';

const { STATUS_CODE } = utils.sftp;

export interface SftpServerOptions {
  username: string;
  password: string;
  /** The client public keys (OpenSSH format) allowed to log in. */
  authorizedKeys: string[];
  /** Directory path → the names READDIR answers (besides . and ..). */
  directories: Record<string, string[]>;
}

/** An in-process SSH server on 127.0.0.1 that answers just enough SFTP to list directories. */
export interface FakeSftpServer {
  port: number;
  /** The host key's fingerprint, as OpenSSH prints it. */
  hostKeyFingerprint: string;
  /** Every authentication request the server saw ('none' included). */
  authAttempts(): number;
  close(): Promise<void>;
}

function sameBytes(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export function fingerprintOf(publicKeyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(publicKeyBlob).digest('base64').replace(/=+$/, '')}`;
}

function authenticate(ctx: AuthContext, options: SftpServerOptions, authorizedKeys: ParsedKey[]): void {
  const methods: Array<'password' | 'publickey'> = ['password', 'publickey'];
  if (ctx.username !== options.username) return ctx.reject(methods);
  if (ctx.method === 'password') return sameBytes(ctx.password, options.password) ? ctx.accept() : ctx.reject(methods);
  if (ctx.method === 'publickey') {
    const offered = ctx.key;
    const authorized = authorizedKeys.find((key) => offered.algo === key.type && offered.data.equals(key.getPublicSSH()));
    if (!authorized) return ctx.reject(methods);
    // Without a signature the client only asks whether this key would do.
    if (!ctx.signature || !ctx.blob) return ctx.accept();
    return authorized.verify(ctx.blob, ctx.signature, ctx.hashAlgo) ? ctx.accept() : ctx.reject(methods);
  }
  return ctx.reject(methods);
}

function serveSftp(sftp: SFTPWrapper, directories: Record<string, string[]>): void {
  const open = new Map<string, { path: string; listed: boolean }>();
  let next = 0;
  sftp.on('OPENDIR', (reqId, path) => {
    if (!(path in directories)) return sftp.status(reqId, STATUS_CODE.NO_SUCH_FILE);
    const handle = Buffer.from(String(next++));
    open.set(handle.toString(), { path, listed: false });
    sftp.handle(reqId, handle);
  });
  sftp.on('READDIR', (reqId, handle) => {
    const state = open.get(handle.toString());
    if (!state) return sftp.status(reqId, STATUS_CODE.FAILURE);
    if (state.listed) return sftp.status(reqId, STATUS_CODE.EOF);
    state.listed = true;
    const names = ['.', '..', ...directories[state.path]];
    sftp.name(
      reqId,
      names.map((filename) => ({
        filename,
        longname: `-rw-r--r--    1 sb       sb              0 Jan  1 00:00 ${filename}`,
        attrs: { mode: 0o100644, uid: 1000, gid: 1000, size: 0, atime: 0, mtime: 0 },
      })),
    );
  });
  sftp.on('CLOSE', (reqId, handle) => {
    open.delete(handle.toString());
    sftp.status(reqId, STATUS_CODE.OK);
  });
}

export async function startSftpServer(options: SftpServerOptions): Promise<FakeSftpServer> {
  const hostKey = utils.generateKeyPairSync('ed25519');
  const parsedHostKey = utils.parseKey(hostKey.private) as ParsedKey;
  const authorizedKeys = options.authorizedKeys.map((text): ParsedKey => {
    const parsed: ParsedKey | ParsedKey[] | Error = utils.parseKey(text);
    if (parsed instanceof Error) throw parsed;
    return Array.isArray(parsed) ? (parsed as ParsedKey[])[0] : parsed;
  });
  let attempts = 0;
  const clients = new Set<Connection>();

  const server = new Server({ hostKeys: [hostKey.private] }, (client) => {
    clients.add(client);
    client.on('close', () => clients.delete(client));
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => {
      attempts++;
      authenticate(ctx, options, authorizedKeys);
    });
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        session.on('sftp', (acceptSftp) => serveSftp(acceptSftp(), options.directories));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    hostKeyFingerprint: fingerprintOf(parsedHostKey.getPublicSSH()),
    authAttempts: () => attempts,
    close: () =>
      new Promise((resolve) => {
        clients.forEach((c) => c.end());
        server.close(() => resolve());
      }),
  };
}
