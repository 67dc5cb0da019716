import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { CheckError } from './check-error';
import { OutboundConnections } from './connection-pool';
import { outboundRequest, OutboundRequest } from './http-client';
import { OutboundPolicy, ResolvedAddress } from './outbound-policy';

// Every server here listens on loopback. 127.0.0.1 is the one allowed
// destination; 127.0.0.2 is the blocked one, watched by a canary that counts
// any connection that reaches it.

// Throwaway self-signed certificate for api.switchboard.test, valid 2000 to 2126.
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgdZjPgxcSAH3W1KSL
2KTKyhxkFLZ0smyhar0DIqweMkyhRANCAAS+3MUNaxY9OhoIJGcGJSjvn8z5++ab
OaWd7c012ZMSBgVt4wDfnJa/YR5QJs+FxWzBgWwKdV/iKD/tXX24usOi
-----END PRIVATE KEY-----`;
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBcjCCARegAwIBAgIBATAKBggqhkjOPQQDAjAfMR0wGwYDVQQDDBRhcGkuc3dp
dGNoYm9hcmQudGVzdDAgFw0wMDAxMDEwMDAwMDBaGA8yMTI2MTIzMTAwMDAwMFow
HzEdMBsGA1UEAwwUYXBpLnN3aXRjaGJvYXJkLnRlc3QwWTATBgcqhkjOPQIBBggq
hkjOPQMBBwNCAAS+3MUNaxY9OhoIJGcGJSjvn8z5++abOaWd7c012ZMSBgVt4wDf
nJa/YR5QJs+FxWzBgWwKdV/iKD/tXX24usOio0IwQDAfBgNVHREEGDAWghRhcGku
c3dpdGNoYm9hcmQudGVzdDAdBgNVHQ4EFgQUy62ipHq3ihmK+2S1ukDysc1wF5Aw
CgYIKoZIzj0EAwIDSQAwRgIhAMr8d8YbnZq1mpmnkZCQQVYPIw8sl9OXK1wbihKz
OOMlAiEA4iUiZJUsgSbd4zF098KAxsuOVjfhLTHgTSzysJkEcAY=
-----END CERTIFICATE-----`;

type Lookup = (host: string) => Promise<ResolvedAddress[]>;

interface Tracked<S extends net.Server> {
  server: S;
  port: number;
  connections: number;
}

const sockets = new Set<net.Socket>();
const timers = new Set<NodeJS.Timeout>();
const servers: net.Server[] = [];

async function listen<S extends net.Server>(server: S, host: string, port = 0): Promise<Tracked<S>> {
  const tracked = { server, port: 0, connections: 0 };
  server.on('connection', (socket: net.Socket) => {
    tracked.connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  servers.push(server);
  tracked.port = (server.address() as net.AddressInfo).port;
  return tracked;
}

function later(ms: number, fn: () => void): void {
  const timer = setTimeout(() => {
    timers.delete(timer);
    fn();
  }, ms);
  timers.add(timer);
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function redirect(res: http.ServerResponse, status: number, location: string): void {
  res.writeHead(status, { location });
  res.end('moving');
}

async function echo(req: http.IncomingMessage, res: http.ServerResponse, server: string): Promise<void> {
  const body = await readBody(req);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ server, method: req.method, url: req.url, headers: req.headers, body }));
}

let app: Tracked<http.Server>;
let other: Tracked<http.Server>;
let canary: Tracked<net.Server>;
let ipv6: Tracked<http.Server> | undefined;
let otherRequests = 0;

function appHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://app');
  const path = url.pathname;
  if (path === '/ok') {
    res.end('hello');
  } else if (path.startsWith('/chain/')) {
    const left = Number(path.slice('/chain/'.length));
    if (left > 0) redirect(res, 302, `/chain/${left - 1}`);
    else res.end('end of chain');
  } else if (path === '/echo') {
    void echo(req, res, 'app');
  } else if (path === '/status') {
    const status = Number(url.searchParams.get('code'));
    redirect(res, status, '/echo');
  } else if (path === '/to-other') {
    redirect(res, Number(url.searchParams.get('code') ?? 302), `http://127.0.0.1:${other.port}/echo`);
  } else if (path === '/to-canary') {
    redirect(res, 302, `http://127.0.0.2:${canary.port}/`);
  } else if (path === '/to-file') {
    redirect(res, 302, 'file:///etc/passwd');
  } else if (path === '/slow') {
    later(10_000, () => res.end('too late'));
  } else if (path === '/stall-body') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first part');
    later(10_000, () => res.end('too late'));
  } else if (path === '/big') {
    const size = Number(url.searchParams.get('size'));
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let sent = 0;
    const pump = (): void => {
      while (sent < size) {
        const piece = chunk.subarray(0, Math.min(chunk.length, size - sent));
        sent += piece.length;
        if (!res.write(piece)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    res.on('error', () => undefined);
    pump();
  } else {
    res.statusCode = 404;
    res.end('not found');
  }
}

beforeAll(async () => {
  app = await listen(http.createServer(appHandler), '127.0.0.1');
  // Same port as the app: a connection that went to a rebound address would land here.
  canary = await listen(
    net.createServer((socket) => socket.destroy()),
    '127.0.0.2',
    app.port,
  );
  other = await listen(
    http.createServer((req, res) => {
      otherRequests += 1;
      void echo(req, res, 'other');
    }),
    '127.0.0.1',
  );
  try {
    ipv6 = await listen(
      http.createServer((req, res) => res.end('over IPv6')),
      '::1',
    );
  } catch {
    ipv6 = undefined;
  }
});

afterAll(async () => {
  for (const timer of timers) clearTimeout(timer);
  for (const socket of sockets) socket.destroy();
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
});

const allowLoopbackOne = (lookup?: Lookup): OutboundPolicy =>
  new OutboundPolicy({ allowPrivate: false, allowedHosts: ['127.0.0.1'] }, lookup);

async function failure(policy: OutboundPolicy, req: OutboundRequest): Promise<CheckError> {
  try {
    await outboundRequest(policy, req);
  } catch (err) {
    if (err instanceof CheckError) return err;
    throw err;
  }
  throw new Error('expected the request to fail');
}

function echoed(body: Buffer): { server: string; method: string; headers: Record<string, string>; body: string } {
  return JSON.parse(body.toString('utf8')) as ReturnType<typeof echoed>;
}

describe('outboundRequest to an allowed destination', () => {
  it('answers status, headers and body of a 200', async () => {
    const res = await outboundRequest(allowLoopbackOne(), { url: `http://127.0.0.1:${app.port}/ok`, timeoutMs: 2000 });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('hello');
    expect(res.headers['content-length']).toBe('5');
    expect(res.url).toBe(`http://127.0.0.1:${app.port}/ok`);
    expect(res.redirects).toBe(0);
  });

  it('sends method, headers and body as given', async () => {
    const res = await outboundRequest(allowLoopbackOne(), {
      url: `http://127.0.0.1:${app.port}/echo?x=1`,
      method: 'post',
      headers: { 'content-type': 'application/json', 'x-api-key': 'k-123' },
      body: '{"a":1}',
      timeoutMs: 2000,
    });
    expect(echoed(res.body)).toMatchObject({
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'k-123', host: `127.0.0.1:${app.port}` },
      body: '{"a":1}',
    });
  });

  it('reaches an allowed IPv6 loopback server by its bracketed address', async () => {
    if (!ipv6) return;
    const policy = new OutboundPolicy({ allowPrivate: false, allowedHosts: ['::1'] });
    const res = await outboundRequest(policy, { url: `http://[::1]:${ipv6.port}/`, timeoutMs: 2000 });
    expect(res.body.toString()).toBe('over IPv6');
  });
});

describe('outboundRequest pins the checked address (DNS rebinding)', () => {
  it('looks the name up once and connects to the address that was checked, never the second answer', async () => {
    const lookup = jest
      .fn<Promise<ResolvedAddress[]>, [string]>()
      .mockResolvedValueOnce([{ address: '127.0.0.1', family: 4 }])
      .mockResolvedValue([{ address: '127.0.0.2', family: 4 }]);
    const before = canary.connections;
    const res = await outboundRequest(allowLoopbackOne(lookup), {
      url: `http://rebind.switchboard.test:${app.port}/echo`,
      timeoutMs: 2000,
    });
    expect(res.status).toBe(200);
    expect(echoed(res.body).headers.host).toBe(`rebind.switchboard.test:${app.port}`);
    expect(lookup).toHaveBeenCalledTimes(1);
    expect(canary.connections).toBe(before);
  });

  it('checks a same-host redirect hop again and refuses it when the name now resolves to a blocked address', async () => {
    const lookup = jest
      .fn<Promise<ResolvedAddress[]>, [string]>()
      .mockResolvedValueOnce([{ address: '127.0.0.1', family: 4 }])
      .mockResolvedValue([{ address: '127.0.0.2', family: 4 }]);
    const before = canary.connections;
    const err = await failure(allowLoopbackOne(lookup), {
      url: `http://rebind.switchboard.test:${app.port}/chain/1`,
      timeoutMs: 2000,
    });
    expect(err.code).toBe('BLOCKED_DESTINATION');
    expect(lookup).toHaveBeenCalledTimes(2);
    expect(canary.connections).toBe(before);
  });
});

describe('outboundRequest redirects', () => {
  it('follows a chain of 5 redirects', async () => {
    const res = await outboundRequest(allowLoopbackOne(), { url: `http://127.0.0.1:${app.port}/chain/5`, timeoutMs: 2000 });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('end of chain');
    expect(res.redirects).toBe(5);
    expect(res.url).toBe(`http://127.0.0.1:${app.port}/chain/0`);
  });

  it('refuses a sixth redirect with UPSTREAM_ERROR "too many redirects"', async () => {
    const err = await failure(allowLoopbackOne(), { url: `http://127.0.0.1:${app.port}/chain/6`, timeoutMs: 2000 });
    expect(err.code).toBe('UPSTREAM_ERROR');
    expect(err.message).toBe('too many redirects');
  });

  it('honours a smaller maxRedirects', async () => {
    const url = `http://127.0.0.1:${app.port}/chain/2`;
    expect((await failure(allowLoopbackOne(), { url, timeoutMs: 2000, maxRedirects: 1 })).message).toBe('too many redirects');
    await expect(outboundRequest(allowLoopbackOne(), { url, timeoutMs: 2000, maxRedirects: 2 })).resolves.toMatchObject({
      redirects: 2,
    });
  });

  it('refuses a redirect to a blocked address before any packet reaches it', async () => {
    const before = canary.connections;
    const err = await failure(allowLoopbackOne(), { url: `http://127.0.0.1:${app.port}/to-canary`, timeoutMs: 2000 });
    expect(err.code).toBe('BLOCKED_DESTINATION');
    expect(err.message).toBe('destination 127.0.0.2 is not allowed (loopback)');
    expect(canary.connections).toBe(before);
  });

  it('refuses a redirect to a non-HTTP scheme', async () => {
    const err = await failure(allowLoopbackOne(), { url: `http://127.0.0.1:${app.port}/to-file`, timeoutMs: 2000 });
    expect(err.code).toBe('UPSTREAM_ERROR');
  });

  it('turns a POST into a body-less GET on 303, 302 and 301', async () => {
    for (const code of [303, 302, 301]) {
      const res = await outboundRequest(allowLoopbackOne(), {
        url: `http://127.0.0.1:${app.port}/status?code=${code}`,
        method: 'POST',
        headers: { 'content-type': 'text/plain', authorization: 'Bearer same-origin' },
        body: 'payload',
        timeoutMs: 2000,
      });
      const seen = echoed(res.body);
      expect(seen.method).toBe('GET');
      expect(seen.body).toBe('');
      expect(seen.headers['content-type']).toBeUndefined();
      expect(seen.headers.authorization).toBe('Bearer same-origin');
    }
  });

  it('repeats method and body on a same-origin 307', async () => {
    const res = await outboundRequest(allowLoopbackOne(), {
      url: `http://127.0.0.1:${app.port}/status?code=307`,
      method: 'POST',
      body: 'payload',
      timeoutMs: 2000,
    });
    expect(echoed(res.body)).toMatchObject({ method: 'POST', body: 'payload' });
  });

  it('keeps caller headers on a same-origin redirect', async () => {
    const res = await outboundRequest(allowLoopbackOne(), {
      url: `http://127.0.0.1:${app.port}/status?code=302`,
      headers: { authorization: 'Bearer kept' },
      timeoutMs: 2000,
    });
    expect(echoed(res.body).headers.authorization).toBe('Bearer kept');
  });

  it('drops Authorization and every other caller header when a redirect changes origin (same host, other port)', async () => {
    const res = await outboundRequest(allowLoopbackOne(), {
      url: `http://127.0.0.1:${app.port}/to-other`,
      headers: { authorization: 'Bearer s3cr3t-token', 'x-api-key': 'k-456', cookie: 'sid=1' },
      timeoutMs: 2000,
    });
    const seen = echoed(res.body);
    expect(seen.server).toBe('other');
    expect(seen.headers.authorization).toBeUndefined();
    expect(seen.headers['x-api-key']).toBeUndefined();
    expect(seen.headers.cookie).toBeUndefined();
    expect(res.url).toBe(`http://127.0.0.1:${other.port}/echo`);
  });

  it('refuses to resend a request body to another origin on 307', async () => {
    const before = otherRequests;
    const err = await failure(allowLoopbackOne(), {
      url: `http://127.0.0.1:${app.port}/to-other?code=307`,
      method: 'POST',
      body: 'client_secret=abc',
      timeoutMs: 2000,
    });
    expect(err.code).toBe('UPSTREAM_ERROR');
    expect(otherRequests).toBe(before);
  });
});

describe('outboundRequest refuses blocked destinations in any spelling', () => {
  it.each([
    (port: number) => `http://127.0.0.2:${port}/`,
    (port: number) => `http://[::ffff:127.0.0.2]:${port}/`,
    (port: number) => `http://2130706434:${port}/`,
    (port: number) => `http://0x7f000002:${port}/`,
    (port: number) => `http://0177.0.0.2:${port}/`,
    (port: number) => `http://127.2:${port}/`,
  ])('refuses %p with BLOCKED_DESTINATION and the canary on 127.0.0.2 sees nothing', async (spell) => {
    const before = canary.connections;
    const err = await failure(allowLoopbackOne(), { url: spell(canary.port), timeoutMs: 2000 });
    expect(err.code).toBe('BLOCKED_DESTINATION');
    expect(err.message).toMatch(/is not allowed \(loopback\)$/);
    expect(canary.connections).toBe(before);
  });

  it.each(['localhost', '0.0.0.0', '[::]', '[::1]', '0'])(
    'refuses %s when no loopback address is allowed, and the server on 127.0.0.1 sees nothing',
    async (host) => {
      const strict = new OutboundPolicy({ allowPrivate: false, allowedHosts: [] });
      const before = app.connections;
      const err = await failure(strict, { url: `http://${host}:${app.port}/ok`, timeoutMs: 2000 });
      expect(err.code).toBe('BLOCKED_DESTINATION');
      expect(app.connections).toBe(before);
    },
  );
});

describe('outboundRequest rejects unusable URLs', () => {
  it.each(['file:///etc/passwd', 'ftp://127.0.0.1/x', 'gopher://127.0.0.1:70/'])(
    'refuses %s with CONFIG_INVALID "unsupported URL scheme"',
    async (url) => {
      const err = await failure(allowLoopbackOne(), { url, timeoutMs: 2000 });
      expect(err.code).toBe('CONFIG_INVALID');
      expect(err.message).toBe('unsupported URL scheme');
    },
  );

  it('refuses credentials in the URL with CONFIG_INVALID and sends nothing', async () => {
    const before = app.connections;
    const err = await failure(allowLoopbackOne(), { url: `http://user:pw@127.0.0.1:${app.port}/ok`, timeoutMs: 2000 });
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toBe('credentials in URL are not allowed');
    expect(app.connections).toBe(before);
  });

  it('refuses a string that is not a URL with CONFIG_INVALID', async () => {
    expect((await failure(allowLoopbackOne(), { url: 'not a url', timeoutMs: 2000 })).code).toBe('CONFIG_INVALID');
  });
});

describe('outboundRequest error mapping', () => {
  it('answers UNREACHABLE for a closed port, naming scheme, host, port and path but not the query', async () => {
    const closed = http.createServer();
    const port = await new Promise<number>((resolve) =>
      closed.listen(0, '127.0.0.1', () => resolve((closed.address() as net.AddressInfo).port)),
    );
    await new Promise((resolve) => closed.close(resolve));

    const err = await failure(allowLoopbackOne(), {
      url: `http://127.0.0.1:${port}/v1/check?api_key=q-secret-value`,
      headers: { authorization: 'Bearer h-secret-value' },
      timeoutMs: 2000,
    });
    expect(err.code).toBe('UNREACHABLE');
    expect(err.message).toBe(`could not connect to http://127.0.0.1:${port}/v1/check (connection refused)`);
    expect(JSON.stringify({ message: err.message, details: err.details })).not.toMatch(/secret-value/);
  });

  it('answers TIMEOUT within about a second when the server takes 10 s to answer and timeoutMs is 300', async () => {
    const started = Date.now();
    const err = await failure(allowLoopbackOne(), { url: `http://127.0.0.1:${app.port}/slow?token=t-secret`, timeoutMs: 300 });
    expect(err.code).toBe('TIMEOUT');
    expect(err.message).toBe(`request to http://127.0.0.1:${app.port}/slow timed out after 300 ms`);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('answers TIMEOUT when the body stalls after the headers', async () => {
    const started = Date.now();
    const err = await failure(allowLoopbackOne(), { url: `http://127.0.0.1:${app.port}/stall-body`, timeoutMs: 300 });
    expect(err.code).toBe('TIMEOUT');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('answers TIMEOUT when the caller aborts', async () => {
    const controller = new AbortController();
    later(100, () => controller.abort());
    const err = await failure(allowLoopbackOne(), {
      url: `http://127.0.0.1:${app.port}/slow`,
      timeoutMs: 5000,
      signal: controller.signal,
    });
    expect(err.code).toBe('TIMEOUT');
    expect(err.message).toBe(`request to http://127.0.0.1:${app.port}/slow was cancelled`);
  });

  it('answers TLS_ERROR when https reaches a server that does not speak TLS', async () => {
    const err = await failure(allowLoopbackOne(), { url: `https://127.0.0.1:${app.port}/ok`, timeoutMs: 2000 });
    expect(err.code).toBe('TLS_ERROR');
  });

  it('sends the URL host as TLS server name while dialling the pinned address, and rejects an untrusted certificate', async () => {
    const serverNames: string[] = [];
    const context = tls.createSecureContext({ key: TEST_KEY, cert: TEST_CERT });
    const secure = await listen(
      https.createServer({
        key: TEST_KEY,
        cert: TEST_CERT,
        SNICallback: (name, callback) => {
          serverNames.push(name);
          callback(null, context);
        },
      }),
      '127.0.0.1',
    );
    const lookup = jest.fn<Promise<ResolvedAddress[]>, [string]>().mockResolvedValue([{ address: '127.0.0.1', family: 4 }]);

    const err = await failure(allowLoopbackOne(lookup), {
      url: `https://api.switchboard.test:${secure.port}/`,
      timeoutMs: 2000,
    });
    expect(err.code).toBe('TLS_ERROR');
    expect(err.message).toBe(`TLS connection to https://api.switchboard.test:${secure.port}/ failed (self-signed certificate)`);
    expect(serverNames).toEqual(['api.switchboard.test']);
    expect(lookup).toHaveBeenCalledTimes(1);
  });
});

describe('outboundRequest response size cap', () => {
  it('keeps only maxResponseBytes of a larger body', async () => {
    const res = await outboundRequest(allowLoopbackOne(), {
      url: `http://127.0.0.1:${app.port}/big?size=3000000`,
      timeoutMs: 5000,
      maxResponseBytes: 1000,
    });
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(1000);
  });

  it('caps the body at 1 MiB by default', async () => {
    const res = await outboundRequest(allowLoopbackOne(), {
      url: `http://127.0.0.1:${app.port}/big?size=3000000`,
      timeoutMs: 5000,
    });
    expect(res.body.length).toBe(1024 * 1024);
  });

  it('returns a body under the cap whole', async () => {
    const res = await outboundRequest(allowLoopbackOne(), {
      url: `http://127.0.0.1:${app.port}/big?size=70000`,
      timeoutMs: 5000,
      maxResponseBytes: 100_000,
    });
    expect(res.body.length).toBe(70000);
  });
});

describe('outboundRequest over kept connections (OutboundConnections)', () => {
  const pools: OutboundConnections[] = [];
  const keptConnections = (options?: ConstructorParameters<typeof OutboundConnections>[0]): OutboundConnections => {
    const pool = new OutboundConnections(options);
    pools.push(pool);
    return pool;
  };
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((pool) => pool.close()));
  });

  /** A server of its own, so that its connection count belongs to one test. */
  const ownServer = (): Promise<Tracked<http.Server>> => listen(http.createServer(appHandler), '127.0.0.1');
  /**
   * One turn of the event loop between requests, as between two checks in the service: undici
   * marks a connection free again in a microtask after the reply, so a request sent in the same
   * tick as the previous reply may open a second connection (still kept, never more).
   */
  const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  it('sends consecutive requests to one destination over one connection, where without it each dials its own', async () => {
    const kept = await ownServer();
    const connections = keptConnections();
    for (let i = 0; i < 3; i += 1) {
      const res = await outboundRequest(allowLoopbackOne(), { url: `http://127.0.0.1:${kept.port}/ok`, timeoutMs: 2000, connections });
      expect(res.body.toString()).toBe('hello');
      await settle();
    }
    expect(kept.connections).toBe(1);

    const fresh = await ownServer();
    for (let i = 0; i < 3; i += 1) await outboundRequest(allowLoopbackOne(), { url: `http://127.0.0.1:${fresh.port}/ok`, timeoutMs: 2000 });
    expect(fresh.connections).toBe(3);
  });

  it('keys connections by origin and approved address: another address or port never shares one', () => {
    const connections = keptConnections();
    const url = new URL('http://api.switchboard.test:8080/');
    const first = connections.dispatcherFor(url, { address: '127.0.0.1', family: 4 }, 1000);
    expect(connections.dispatcherFor(url, { address: '127.0.0.1', family: 4 }, 1000)).toBe(first);
    expect(connections.dispatcherFor(url, { address: '::1', family: 6 }, 1000)).not.toBe(first);
    expect(connections.dispatcherFor(new URL('http://api.switchboard.test:8081/'), { address: '127.0.0.1', family: 4 }, 1000)).not.toBe(first);
    expect(connections.dispatcherFor(new URL('https://api.switchboard.test:8080/'), { address: '127.0.0.1', family: 4 }, 1000)).not.toBe(first);
    expect(connections.size).toBe(4);
  });

  it('checks the destination again before reusing a connection: a name rebound to a blocked address is refused, and no packet reaches it', async () => {
    const lookup = jest
      .fn<Promise<ResolvedAddress[]>, [string]>()
      .mockResolvedValueOnce([{ address: '127.0.0.1', family: 4 }])
      .mockResolvedValue([{ address: '127.0.0.2', family: 4 }]);
    const policy = allowLoopbackOne(lookup);
    const connections = keptConnections();
    const before = canary.connections;
    const url = `http://rebind.switchboard.test:${app.port}/ok`;
    expect((await outboundRequest(policy, { url, timeoutMs: 2000, connections })).status).toBe(200);
    const err = await failure(policy, { url, timeoutMs: 2000, connections });
    expect(err.code).toBe('BLOCKED_DESTINATION');
    expect(canary.connections).toBe(before);
  });

  it('sends a request once more on a fresh connection when the server closed the kept one as it went out', async () => {
    // Answers the first request of each connection with keep-alive, then drops the connection
    // when a second request arrives on it: what a server whose idle timeout just fired does.
    let requests = 0;
    const dropping = await listen(
      net.createServer((socket) => {
        let seen = 0;
        socket.on('data', () => {
          requests += 1;
          seen += 1;
          if (seen === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok');
          else socket.destroy();
        });
      }),
      '127.0.0.1',
    );
    const connections = keptConnections();
    const url = `http://127.0.0.1:${dropping.port}/check`;
    expect((await outboundRequest(allowLoopbackOne(), { url, timeoutMs: 2000, connections })).body.toString()).toBe('ok');
    await settle();
    expect((await outboundRequest(allowLoopbackOne(), { url, timeoutMs: 2000, connections })).body.toString()).toBe('ok');
    expect(requests).toBe(3);
    expect(dropping.connections).toBe(2);
  });

  it('does not resend a request that timed out', async () => {
    const kept = await ownServer();
    const connections = keptConnections();
    const err = await failure(allowLoopbackOne(), { url: `http://127.0.0.1:${kept.port}/slow`, timeoutMs: 300, connections });
    expect(err.code).toBe('TIMEOUT');
    expect(kept.connections).toBe(1);
  });

  it('answers UNREACHABLE for a closed port, as without kept connections', async () => {
    const closed = await listen(net.createServer(), '127.0.0.1');
    await new Promise((resolve) => closed.server.close(resolve));
    const err = await failure(allowLoopbackOne(), { url: `http://127.0.0.1:${closed.port}/`, timeoutMs: 2000, connections: keptConnections() });
    expect(err.code).toBe('UNREACHABLE');
  });

  it('never reuses the connection that carried a body cut at the cap: the next request gets a whole answer on another one', async () => {
    const socketOf: Record<string, net.Socket> = {};
    const kept = await listen(
      http.createServer((req, res) => {
        socketOf[req.url ?? ''] = req.socket;
        if (req.url === '/big') res.end(Buffer.alloc(300_000, 'x'));
        else res.end('hello');
      }),
      '127.0.0.1',
    );
    const connections = keptConnections();
    const big = await outboundRequest(allowLoopbackOne(), { url: `http://127.0.0.1:${kept.port}/big`, timeoutMs: 2000, maxResponseBytes: 1000, connections });
    expect(big.body.length).toBe(1000);
    await settle();
    const next = await outboundRequest(allowLoopbackOne(), { url: `http://127.0.0.1:${kept.port}/ok`, timeoutMs: 2000, connections });
    expect(next.body.toString()).toBe('hello');
    expect(socketOf['/ok']).toBeDefined();
    expect(socketOf['/ok']).not.toBe(socketOf['/big']);
  });

  it('closes a connection after maxRequestsPerConnection requests and dials the next one anew', async () => {
    const kept = await ownServer();
    const connections = keptConnections({ maxRequestsPerConnection: 2 });
    for (let i = 0; i < 5; i += 1) {
      await outboundRequest(allowLoopbackOne(), { url: `http://127.0.0.1:${kept.port}/ok`, timeoutMs: 2000, connections });
      await settle();
    }
    expect(kept.connections).toBe(3);
  });

  it('keeps at most maxDestinations destinations, closing the least recently used', async () => {
    const servers = [await ownServer(), await ownServer(), await ownServer()];
    const connections = keptConnections({ maxDestinations: 2 });
    for (const server of servers) await outboundRequest(allowLoopbackOne(), { url: `http://127.0.0.1:${server.port}/ok`, timeoutMs: 2000, connections });
    expect(connections.size).toBe(2);
    await settle();
    await outboundRequest(allowLoopbackOne(), { url: `http://127.0.0.1:${servers[2].port}/ok`, timeoutMs: 2000, connections });
    expect(servers[2].connections).toBe(1);
  });

  it('close() ends the idle connections; later requests dial a fresh connection each', async () => {
    const kept = await ownServer();
    const connections = keptConnections();
    await outboundRequest(allowLoopbackOne(), { url: `http://127.0.0.1:${kept.port}/ok`, timeoutMs: 2000, connections });
    const ended = new Promise<void>((resolve) => {
      for (const socket of sockets) if (socket.localPort === kept.port) socket.once('close', () => resolve());
    });
    await connections.close();
    await ended;
    expect(connections.size).toBe(0);
    await outboundRequest(allowLoopbackOne(), { url: `http://127.0.0.1:${kept.port}/ok`, timeoutMs: 2000, connections });
    await outboundRequest(allowLoopbackOne(), { url: `http://127.0.0.1:${kept.port}/ok`, timeoutMs: 2000, connections });
    expect(kept.connections).toBe(3);
  });
});
