import { isIP } from 'node:net';
import { Pool, buildConnector } from 'undici';
import type { Dispatcher } from 'undici';
import type { ResolvedAddress } from './outbound-policy';

export interface OutboundConnectionsOptions {
  /** Destinations (origin × approved address) kept at once; the least recently used is closed beyond. Default 256. */
  maxDestinations?: number;
  /** How long an idle connection is kept when the server does not say (`Keep-Alive: timeout=`). Default 4 s. */
  idleMs?: number;
  /** The most an idle connection is kept, whatever the server says. Default 10 s. */
  maxIdleMs?: number;
  /** Requests one connection carries before it is closed, so that certificates are checked again. Default 100. */
  maxRequestsPerConnection?: number;
}

const ignore = (): void => undefined;

/**
 * Keep-alive connections for checks, so that checking many integrations of one upstream (or one
 * integration often) does not pay a TCP and TLS handshake each time.
 *
 * A connection is shared only by requests to the same origin dialled at the same address the
 * policy approved for them: every request is still checked by the policy first, so pinning
 * (DNS rebinding) holds, and a name that now resolves elsewhere gets its own connections. Each
 * request carries its own credentials; nothing of one request's authentication lives in the
 * connection (no client certificates, no connection-bound auth schemes are supported).
 */
export class OutboundConnections {
  readonly #pools = new Map<string, Pool>();
  readonly #maxDestinations: number;
  readonly #idleMs: number;
  readonly #maxIdleMs: number;
  readonly #maxRequestsPerConnection: number;
  #closed = false;

  constructor(options: OutboundConnectionsOptions = {}) {
    this.#maxDestinations = options.maxDestinations ?? 256;
    this.#idleMs = options.idleMs ?? 4_000;
    this.#maxIdleMs = options.maxIdleMs ?? 10_000;
    this.#maxRequestsPerConnection = options.maxRequestsPerConnection ?? 100;
  }

  /** Destinations with a live pool right now (for tests and metrics). */
  get size(): number {
    return this.#pools.size;
  }

  /** The dispatcher for `url` dialled at `pinned`; null once closed (callers then dial a fresh connection). */
  dispatcherFor(url: URL, pinned: ResolvedAddress, connectTimeoutMs: number): Dispatcher | null {
    if (this.#closed) return null;
    const key = `${url.origin} ${pinned.address} ${connectTimeoutMs}`;
    const known = this.#pools.get(key);
    if (known) {
      // Map order is the recency order: move it to the end.
      this.#pools.delete(key);
      this.#pools.set(key, known);
      return known;
    }
    const pool = new Pool(url.origin, {
      connect: pinnedConnector(url, pinned, connectTimeoutMs),
      keepAliveTimeout: this.#idleMs,
      keepAliveMaxTimeout: this.#maxIdleMs,
      maxRequestsPerClient: this.#maxRequestsPerConnection,
    });
    let connected = 0;
    const forgetWhenIdle = (): void => {
      if (connected > 0 || this.#pools.get(key) !== pool) return;
      this.#pools.delete(key);
      pool.close().catch(ignore);
    };
    pool
      .on('connect', () => {
        connected += 1;
      })
      .on('disconnect', () => {
        connected -= 1;
        forgetWhenIdle();
      })
      .on('connectionError', forgetWhenIdle);
    this.#pools.set(key, pool);
    if (this.#pools.size > this.#maxDestinations) {
      const [oldestKey, oldest] = this.#pools.entries().next().value as [string, Pool];
      this.#pools.delete(oldestKey);
      // close() lets requests already queued on it finish.
      oldest.close().catch(ignore);
    }
    return pool;
  }

  /** Closes every idle connection and lets requests in flight finish; later requests dial fresh connections. */
  async close(): Promise<void> {
    this.#closed = true;
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => pool.close().catch(ignore)));
  }
}

/**
 * Dials the address the policy approved, never the name: the TLS server
 * name and certificate check still use the URL's host, so a pinned address
 * changes where packets go but not whom we authenticate.
 */
export function pinnedConnector(url: URL, pinned: ResolvedAddress, timeoutMs: number): buildConnector.connector {
  const connect = buildConnector({ timeout: timeoutMs });
  const host = url.hostname.replace(/\.$/, '');
  const servername = isIP(host) === 0 && !host.startsWith('[') ? host : undefined;
  return (options, callback) => connect({ ...options, hostname: pinned.address, servername }, callback);
}
