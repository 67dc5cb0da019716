import { Client } from 'undici';
import type { Dispatcher } from 'undici';
import { CheckError } from './check-error';
import { pinnedConnector, type OutboundConnections } from './connection-pool';
import type { OutboundPolicy } from './outbound-policy';

export interface OutboundRequest {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Bounds the whole exchange: resolution, connect, every redirect and the body. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Default 5. */
  maxRedirects?: number;
  /** Default 1 MiB; the rest of the body is discarded unread. */
  maxResponseBytes?: number;
  /**
   * Keep-alive connections to reuse. Only for requests that may be sent twice: a request that
   * fails on a reused connection the server had just closed is sent once more on a fresh one.
   * Without it, every hop dials its own connection and closes it.
   */
  connections?: OutboundConnections;
}

export interface OutboundResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The URL that answered, after redirects. */
  url: string;
  redirects: number;
}

const DEFAULT_MAX_REDIRECTS = 5;
const EXCHANGE_COMPLETE = new Error('outbound exchange complete');
const ignore = (): void => undefined;
const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const BODY_HEADERS = ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location'];

/**
 * The one way to make an outbound HTTP call. Every hop is checked by the
 * policy and dialled at the exact address the policy approved; redirects are
 * followed here rather than by undici so that no hop escapes the check.
 */
export async function outboundRequest(policy: OutboundPolicy, req: OutboundRequest): Promise<OutboundResponse> {
  const url = parseTargetUrl(req.url);
  if (!Number.isFinite(req.timeoutMs) || req.timeoutMs <= 0) {
    throw new CheckError('CONFIG_INVALID', 'timeout must be a positive number of milliseconds');
  }
  const maxRedirects = req.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const maxResponseBytes = req.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const deadline = new Deadline(req.timeoutMs, req.signal);
  try {
    return await exchangeFollowingRedirects(policy, url, req, deadline, maxRedirects, maxResponseBytes);
  } finally {
    deadline.dispose();
  }
}

async function exchangeFollowingRedirects(
  policy: OutboundPolicy,
  url: URL,
  req: OutboundRequest,
  deadline: Deadline,
  maxRedirects: number,
  maxResponseBytes: number,
): Promise<OutboundResponse> {
  const firstOrigin = url.origin;
  let method = (req.method ?? 'GET').toUpperCase();
  let headers: Record<string, string> = { ...req.headers };
  let body = req.body;
  let redirects = 0;

  for (;;) {
    let hop: HopResult;
    try {
      hop = await sendHop(policy, url, { method, headers, body }, deadline.signal, req.timeoutMs, maxResponseBytes, req.connections);
    } catch (err) {
      throw toCheckError(err, url, { timedOut: deadline.timedOut, caller: req.signal, timeoutMs: req.timeoutMs });
    }
    if (hop.kind === 'final') return { ...hop.response, url: url.href, redirects };

    if (redirects >= maxRedirects) {
      throw new CheckError('UPSTREAM_ERROR', 'too many redirects', { redirects, url: displayUrl(url) });
    }
    const next = parseRedirectUrl(hop.location, url);
    redirects += 1;

    const becomesGet =
      hop.status === 303 ? method !== 'HEAD' : (hop.status === 301 || hop.status === 302) && method === 'POST';
    if (becomesGet) {
      method = 'GET';
      body = undefined;
      for (const name of Object.keys(headers)) {
        if (BODY_HEADERS.includes(name.toLowerCase())) delete headers[name];
      }
    }
    // Caller headers carry credentials saved for one destination; another
    // origin (scheme, host or port differs) never receives them, not even
    // when a later hop comes back.
    if (next.origin !== firstOrigin) {
      headers = {};
      if (body !== undefined) {
        throw new CheckError('UPSTREAM_ERROR', 'redirect would resend the request body to another origin', {
          url: displayUrl(next),
        });
      }
    }
    url = next;
  }
}

/**
 * The whole exchange's deadline, joined with the caller's signal. Its timer is cleared as soon as
 * the exchange ends: `AbortSignal.timeout` would keep one armed per request for the full timeout
 * (10 s by default, thousands of timers at a thousand checks per second), and `AbortSignal.any`
 * keeps its sources alive until they are collected.
 */
class Deadline {
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout;
  readonly #caller: AbortSignal | undefined;
  readonly #onCallerAbort = (): void => this.#controller.abort(this.#caller?.reason);
  timedOut = false;

  constructor(timeoutMs: number, caller: AbortSignal | undefined) {
    this.#timer = setTimeout(() => {
      this.timedOut = true;
      this.#controller.abort(new DOMException('The operation timed out.', 'TimeoutError'));
    }, timeoutMs);
    this.#caller = caller;
    if (caller?.aborted) this.#onCallerAbort();
    else caller?.addEventListener('abort', this.#onCallerAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  dispose(): void {
    clearTimeout(this.#timer);
    this.#caller?.removeEventListener('abort', this.#onCallerAbort);
  }
}

function parseTargetUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CheckError('CONFIG_INVALID', 'invalid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CheckError('CONFIG_INVALID', 'unsupported URL scheme', { scheme: url.protocol.slice(0, -1) });
  }
  if (url.username !== '' || url.password !== '') {
    throw new CheckError('CONFIG_INVALID', 'credentials in URL are not allowed');
  }
  return url;
}

function parseRedirectUrl(location: string, base: URL): URL {
  let url: URL;
  try {
    url = new URL(location, base);
  } catch {
    throw new CheckError('UPSTREAM_ERROR', `redirect from ${displayUrl(base)} to an invalid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CheckError('UPSTREAM_ERROR', `redirect from ${displayUrl(base)} to an unsupported URL scheme`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new CheckError('UPSTREAM_ERROR', `redirect from ${displayUrl(base)} to a URL with credentials`);
  }
  return url;
}

type HopResult =
  | { kind: 'final'; response: Omit<OutboundResponse, 'url' | 'redirects'> }
  | { kind: 'redirect'; status: number; location: string };

interface HopRequest {
  method: string;
  headers: Record<string, string>;
  body: string | Buffer | undefined;
}

async function sendHop(
  policy: OutboundPolicy,
  url: URL,
  hop: HopRequest,
  signal: AbortSignal,
  timeoutMs: number,
  maxResponseBytes: number,
  connections: OutboundConnections | undefined,
): Promise<HopResult> {
  const pinned = await untilAborted(policy.resolve(url.hostname), signal);
  const pooled = connections?.dispatcherFor(url, pinned, timeoutMs);
  if (pooled) {
    try {
      return await exchange(pooled, url, hop, signal, timeoutMs, maxResponseBytes);
    } catch (err) {
      // A kept connection the server closed as this request went out: once more on a fresh one.
      if (signal.aborted || !errorCodes(err).some((code) => STALE_CONNECTION_CODES.has(code))) throw err;
    }
  }
  // The header and body timeouts are set per request (exchange), for kept and fresh connections alike.
  const client = new Client(url.origin, { connect: pinnedConnector(url, pinned, timeoutMs) });
  try {
    return await exchange(client, url, hop, signal, timeoutMs, maxResponseBytes);
  } finally {
    // Not awaited: the reply is complete, and waiting for the socket's close event
    // only delayed the caller. With no error given, undici builds a new one (and its
    // stack trace) per call; nothing is pending, so nothing ever receives this one.
    client.destroy(EXCHANGE_COMPLETE, ignore);
  }
}

/** One request and its (capped) reply; a redirect's body is never read. */
async function exchange(
  dispatcher: Dispatcher,
  url: URL,
  hop: HopRequest,
  signal: AbortSignal,
  timeoutMs: number,
  maxResponseBytes: number,
): Promise<HopResult> {
  const res = await dispatcher.request({
    origin: url.origin,
    path: `${url.pathname}${url.search}`,
    method: hop.method as Dispatcher.HttpMethod,
    headers: hop.headers,
    body: hop.body,
    signal,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const location = firstHeader(res.headers.location);
  if (REDIRECT_STATUSES.has(res.statusCode) && location !== undefined) {
    // Unread: if it has not fully arrived, undici closes the connection rather than wait for it.
    res.body.on('error', ignore).destroy();
    return { kind: 'redirect', status: res.statusCode, location };
  }
  const body = await readCapped(res.body, maxResponseBytes);
  return { kind: 'final', response: { status: res.statusCode, headers: res.headers, body } };
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

async function readCapped(body: AsyncIterable<Buffer>, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const room = limit - total;
    if (chunk.length >= room) {
      chunks.push(chunk.subarray(0, room));
      total = limit;
      break;
    }
    chunks.push(chunk);
    total += chunk.length;
  }
  return Buffer.concat(chunks, total);
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}

/** scheme://host:port/path: a query string may hold an API key, so it is never shown. */
function displayUrl(url: URL): string {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `${url.protocol}//${url.hostname}:${port}${url.pathname}`;
}

function errorCodes(err: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = err;
  // Not instanceof Error: errors from node internals may come from another realm (Jest's VM).
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const { code, cause } = current as { code?: unknown; cause?: unknown };
    if (typeof code === 'string') codes.push(code);
    current = cause;
  }
  return codes;
}

const UNREACHABLE_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  UND_ERR_SOCKET: 'connection closed',
  UND_ERR_CLOSED: 'connection closed',
  EHOSTUNREACH: 'host unreachable',
  EHOSTDOWN: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENETDOWN: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
  ENOTFOUND: 'name not resolved',
  EAI_AGAIN: 'name not resolved',
};

const TLS_REASONS: Record<string, string> = {
  CERT_HAS_EXPIRED: 'certificate has expired',
  CERT_NOT_YET_VALID: 'certificate is not yet valid',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in chain',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'certificate issuer is not trusted',
  UNABLE_TO_GET_ISSUER_CERT: 'certificate issuer is not trusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'certificate issuer is not trusted',
  CERT_UNTRUSTED: 'certificate is not trusted',
  CERT_REVOKED: 'certificate has been revoked',
  ERR_TLS_CERT_ALTNAME_INVALID: 'certificate does not match the host name',
};

/** What a request on a kept connection sees when the server closed it just before. */
const STALE_CONNECTION_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const INVALID_REQUEST_CODES = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED', 'ERR_INVALID_ARG_TYPE']);

/** Short, value-free messages: headers, bodies and queries never appear in them. */
function toCheckError(
  err: unknown,
  url: URL,
  { timedOut, caller, timeoutMs }: { timedOut: boolean; caller?: AbortSignal; timeoutMs: number },
): CheckError {
  if (err instanceof CheckError) return err;
  const where = displayUrl(url);
  const codes = errorCodes(err);
  const cause = codes[0];
  const details = cause ? { cause } : {};

  if (timedOut || codes.some((code) => TIMEOUT_CODES.has(code))) {
    return new CheckError('TIMEOUT', `request to ${where} timed out after ${timeoutMs} ms`, details);
  }
  if (caller?.aborted) return new CheckError('TIMEOUT', `request to ${where} was cancelled`, details);

  const tlsCode = codes.find((code) => code in TLS_REASONS || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_'));
  if (tlsCode !== undefined) {
    const reason = TLS_REASONS[tlsCode] ?? 'handshake failed';
    return new CheckError('TLS_ERROR', `TLS connection to ${where} failed (${reason})`, details);
  }
  const unreachable = codes.find((code) => code in UNREACHABLE_REASONS);
  if (unreachable !== undefined) {
    return new CheckError('UNREACHABLE', `could not connect to ${where} (${UNREACHABLE_REASONS[unreachable]})`, details);
  }
  if (codes.some((code) => INVALID_REQUEST_CODES.has(code) || code === 'ERR_INVALID_CHAR')) {
    return new CheckError('CONFIG_INVALID', `request to ${where} is invalid (method, headers or body)`, details);
  }
  return new CheckError('UPSTREAM_ERROR', `request to ${where} failed`, details);
}
