import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { CheckError } from '../../common/outbound/check-error';
import type { CheckContext, CheckOutcome } from '../connector.types';

/*
 * What the socket-level connectors (postgresql, mysql, redis, sftp) share: turning
 * socket and TLS errors into CheckError codes, reading their parameters, and running
 * a check under one overall deadline that always tears the client down.
 */

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
]);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'ETIMEOUT']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
/** OpenSSL certificate verification results, as Node reports them in `err.code`. */
const CERTIFICATE_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH',
]);

interface ErrorLike {
  code?: unknown;
  message?: unknown;
  errors?: unknown;
  library?: unknown;
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as ErrorLike;
  if (typeof e.code === 'string') return e.code;
  // Node's happy-eyeballs connect reports an AggregateError whose parts carry the code.
  if (Array.isArray(e.errors) && e.errors.length > 0) return errorCode(e.errors[0]);
  return undefined;
}

/** The message of an error, or '' (never the error's inspection, which may show its fields). */
export function errorMessage(err: unknown): string {
  if (typeof err === 'object' && err !== null && typeof (err as ErrorLike).message === 'string') {
    return (err as ErrorLike).message as string;
  }
  return '';
}

export function isTlsError(err: unknown): boolean {
  const code = errorCode(err) ?? '';
  if (code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_') || CERTIFICATE_CODES.has(code)) return true;
  if (typeof err === 'object' && err !== null && (err as ErrorLike).library === 'SSL routines') return true;
  return code === 'EPROTO' && /ssl|tls/i.test(errorMessage(err));
}

/**
 * Maps a socket or TLS failure to a CheckError with a message of our own, naming the
 * destination as the user wrote it. Returns undefined for anything else, which the
 * connector then classifies itself.
 */
export function socketErrorToCheckError(err: unknown, target: string): CheckError | undefined {
  if (err instanceof CheckError) return err;
  const code = errorCode(err);
  if (code === undefined) return isTlsError(err) ? new CheckError('TLS_ERROR', `TLS handshake with ${target} failed`) : undefined;
  if (UNREACHABLE_CODES.has(code)) {
    const why = code === 'ECONNREFUSED' ? 'connection refused' : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'host not found' : 'host unreachable';
    return new CheckError('UNREACHABLE', `cannot connect to ${target}: ${why}`);
  }
  if (TIMEOUT_CODES.has(code)) return new CheckError('TIMEOUT', `connection to ${target} timed out`);
  if (RESET_CODES.has(code)) return new CheckError('UPSTREAM_ERROR', `connection to ${target} was closed by the server`);
  if (isTlsError(err)) {
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH') {
      return new CheckError('TLS_ERROR', `the TLS certificate of ${target} does not match its host name`);
    }
    if (CERTIFICATE_CODES.has(code)) {
      return new CheckError('TLS_ERROR', `the TLS certificate of ${target} is not trusted (${code})`);
    }
    return new CheckError('TLS_ERROR', `TLS handshake with ${target} failed (${code})`);
  }
  return undefined;
}

/** `host:port`, bracketing IPv6 literals. */
export function formatTarget(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** TLS options that verify the certificate against the name the user gave, while the socket goes to the resolved address. */
export function tlsIdentityOptions(host: string, verify: boolean): {
  servername?: string;
  rejectUnauthorized: boolean;
  checkServerIdentity: (hostname: string, cert: PeerCertificate) => Error | undefined;
} {
  return {
    // SNI must not carry an IP address (RFC 6066, section 3).
    ...(isIP(host) === 0 ? { servername: host } : {}),
    rejectUnauthorized: verify,
    checkServerIdentity: verify ? (_hostname, cert) => checkServerIdentity(host, cert) : () => undefined,
  };
}

/* Parameters and credentials as the caller hands them over (already validated, defaults applied). */

export function stringParam(values: Record<string, unknown>, name: string, fallback?: string): string | undefined {
  const value = values[name];
  if (typeof value === 'string' && value.trim() !== '') return value.trim();
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return fallback;
}

export function requireString(values: Record<string, unknown>, name: string, what: string): string {
  const value = stringParam(values, name);
  if (value === undefined) throw new CheckError('CONFIG_INVALID', `${what} "${name}" is required`);
  return value;
}

/** A secret is used exactly as given (no trimming); empty counts as missing. */
export function requireSecret(values: Record<string, unknown>, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new CheckError('CONFIG_INVALID', `credential "${name}" is required`);
  return value;
}

export function optionalSecret(values: Record<string, unknown>, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

export function integerParam(values: Record<string, unknown>, name: string, fallback: number, min: number, max: number): number {
  const raw = values[name];
  if (raw === undefined || raw === null || raw === '') return fallback;
  const value = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new CheckError('CONFIG_INVALID', `parameter "${name}" must be an integer from ${min} to ${max}`);
  }
  return value;
}

export function booleanParam(values: Record<string, unknown>, name: string, fallback: boolean): boolean {
  const raw = values[name];
  if (typeof raw === 'boolean') return raw;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (raw === undefined || raw === null || raw === '') return fallback;
  throw new CheckError('CONFIG_INVALID', `parameter "${name}" must be true or false`);
}

export function optionParam<T extends string>(values: Record<string, unknown>, name: string, allowed: readonly T[], fallback: T): T {
  const raw = values[name];
  if (raw === undefined || raw === null || raw === '') return fallback;
  if (typeof raw === 'string' && (allowed as readonly string[]).includes(raw)) return raw as T;
  throw new CheckError('CONFIG_INVALID', `parameter "${name}" must be one of ${allowed.join(', ')}`);
}

/**
 * Every credential value except those whose metadata says they are not secret
 * (a user name), plus the secret parameters: what no message may contain.
 */
export function secretValues(ctx: CheckContext): string[] {
  const notSecret = new Set(ctx.auth.parametersMetadata.filter((p) => !p.secret).map((p) => p.name));
  const values: string[] = [];
  for (const [name, value] of Object.entries(ctx.credentials ?? {})) {
    if (!notSecret.has(name) && typeof value === 'string' && value !== '') values.push(value);
  }
  return values;
}

/** Replaces every occurrence of a secret (longest first, so a secret inside another goes too). */
export function redact(message: string, secrets: readonly string[]): string {
  let out = message;
  for (const secret of [...secrets].filter((s) => s.length > 0).sort((a, b) => b.length - a.length)) {
    out = out.split(secret).join('***');
  }
  return out;
}

/** A server-supplied message, made safe to show: redacted, one line, bounded. */
export function upstreamText(message: string, secrets: readonly string[]): string {
  const oneLine = redact(message, secrets).replace(/\s+/g, ' ').trim();
  return oneLine.length > 200 ? `${oneLine.slice(0, 197)}...` : oneLine;
}

export interface GuardedCheck {
  /** Secret strings scrubbed from the outcome's message. */
  secrets: string[];
  /** Turns a driver error into a CheckError; return undefined to fall back to the socket mapping. */
  classify(err: unknown): CheckError | undefined;
  /** Where the check connects, for messages ('' until known). */
  target(): string;
  /** Tears the client down at once; called after every outcome (must tolerate repeats). */
  destroy(): void;
  /** Connects and checks; returns the non-secret facts. */
  work(run: CheckRun): Promise<Record<string, unknown>>;
}

export interface CheckRun {
  /** Non-secret facts gathered so far; reported with a failure too. */
  details: Record<string, unknown>;
  /** Throws once the outcome is decided (deadline passed, cancelled): call it before opening anything. */
  assertActive: () => void;
}

/**
 * Runs a check under `ctx.timeoutMs` and `ctx.signal`, and never throws: every failure
 * becomes an unhealthy outcome with a CheckError code and a message of our own.
 */
export async function runGuardedCheck(ctx: CheckContext, check: GuardedCheck): Promise<CheckOutcome> {
  const details: Record<string, unknown> = {};
  let finished = false;
  const run: CheckRun = {
    details,
    assertActive: () => {
      if (finished) throw new CheckError('TIMEOUT', 'the check ended before it could connect');
    },
  };
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    const end = (message: string) => {
      // Flipped at once, so work still on its way to a connect() stops at assertActive().
      finished = true;
      reject(new CheckError('TIMEOUT', message));
    };
    timer = setTimeout(() => end(`no answer${check.target() ? ` from ${check.target()}` : ''} within ${ctx.timeoutMs} ms`), ctx.timeoutMs);
    onAbort = () => end('the check was cancelled');
    if (ctx.signal?.aborted) onAbort();
    else ctx.signal?.addEventListener('abort', onAbort, { once: true });
  });
  deadline.catch(() => undefined);
  try {
    const work = finished ? deadline : Promise.resolve().then(() => check.work(run));
    // The work may still fail after the deadline won; that failure is not news.
    work.catch(() => undefined);
    const facts = await Promise.race([work, deadline]);
    return { status: 'healthy', error: null, details: { ...details, ...facts } };
  } catch (err) {
    const failure = toCheckError(err, check);
    return {
      status: 'unhealthy',
      error: { code: failure.code, message: redact(failure.message, check.secrets) || failure.code },
      details: { ...details, ...failure.details },
    };
  } finally {
    finished = true;
    clearTimeout(timer);
    if (onAbort) ctx.signal?.removeEventListener('abort', onAbort);
    try {
      check.destroy();
    } catch {
      // Best effort: the client is being discarded either way.
    }
  }
}

function toCheckError(err: unknown, check: GuardedCheck): CheckError {
  if (err instanceof CheckError) return err;
  const target = check.target() || 'the server';
  try {
    const classified = check.classify(err) ?? socketErrorToCheckError(err, target);
    if (classified) return classified;
  } catch {
    // A classifier bug must not turn into a thrown check.
  }
  return new CheckError('UPSTREAM_ERROR', `the check against ${target} failed`);
}
