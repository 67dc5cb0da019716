import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OutboundPolicy } from '../../../src/common/outbound/outbound-policy';
import type { AuthMetadata, CheckContext, ConnectorDefinition } from '../../../src/connectors/connector.types';

/** One request as the fake vendor saw it. */
export interface RecordedRequest {
  method: string;
  /** The path without its query. */
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  body: string;
}

/** What the fake answers; an object body is sent as JSON. */
export interface FakeReply {
  status?: number;
  headers?: Record<string, string>;
  body?: string | Record<string, unknown>;
  /** Wait this long before answering (the wait ends early when the fake closes). */
  delayMs?: number;
}

export type FakeHandler = (request: RecordedRequest) => FakeReply | Promise<FakeReply>;

/**
 * A vendor stand-in on 127.0.0.1 with an ephemeral port: it records every request and
 * answers per route (`METHOD /path`), falling back to 404.
 */
export class FakeUpstream {
  readonly requests: RecordedRequest[] = [];
  private readonly routes = new Map<string, FakeHandler>();
  private readonly timers = new Set<NodeJS.Timeout>();

  private readonly server: Server;
  private port = 0;

  private constructor() {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  static async start(): Promise<FakeUpstream> {
    const fake = new FakeUpstream();
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.port = (fake.server.address() as AddressInfo).port;
    return fake;
  }

  /** `http://127.0.0.1:<port>`, no trailing slash. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Answers `method path` (path without query) with a fixed reply or a handler. */
  on(method: string, path: string, reply: FakeReply | FakeHandler): this {
    this.routes.set(`${method.toUpperCase()} ${path}`, typeof reply === 'function' ? reply : () => reply);
    return this;
  }

  /** The requests that reached `path`, in order. */
  requestsTo(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    };
    this.requests.push(recorded);

    const handler = this.routes.get(`${recorded.method} ${recorded.path}`);
    const reply: FakeReply = handler ? await handler(recorded) : { status: 404, body: { message: 'Not Found' } };
    if (reply.delayMs) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          resolve();
        }, reply.delayMs);
        this.timers.add(timer);
      });
      if (res.destroyed) return;
    }
    const isJson = reply.body !== undefined && typeof reply.body !== 'string';
    const body = reply.body === undefined ? '' : isJson ? JSON.stringify(reply.body) : (reply.body as string);
    res.writeHead(reply.status ?? 200, {
      ...(isJson ? { 'Content-Type': 'application/json' } : {}),
      ...reply.headers,
    });
    res.end(body);
  }
}

/** A loopback URL on which nothing listens (a port just released by the OS). */
export async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/**
 * The policy the connector tests use: 127.0.0.1 allowed, and a resolver that refuses
 * every name, so a test that forgot to override a vendor URL fails instead of calling out.
 */
export function loopbackOnlyPolicy(): OutboundPolicy {
  return new OutboundPolicy({ allowPrivate: false, allowedHosts: ['127.0.0.1'] }, () =>
    Promise.reject(new Error('tests resolve no names')),
  );
}

/** The auth method `id` of a connector (fails loudly when the catalog lacks it). */
export function authMethod(connector: ConnectorDefinition, id: string): AuthMetadata {
  const found = connector.configMetadata.authMetadata.find((a) => a.id === id);
  if (!found) throw new Error(`${connector.key} has no auth method ${id}`);
  return found;
}

/** Parameter defaults of a connector, as the caller merges them before a check. */
export function parameterDefaults(connector: ConnectorDefinition): Record<string, unknown> {
  return Object.fromEntries(
    connector.configMetadata.parametersMetadata
      .filter((p) => p.defaultValue !== null && p.defaultValue !== undefined)
      .map((p) => [p.name, p.defaultValue]),
  );
}

/**
 * A check context for `connector` with its parameter defaults merged under `parameters`,
 * the loopback-only policy and a 5 s budget.
 */
export function checkContext(
  connector: ConnectorDefinition,
  authId: string,
  overrides: Partial<Omit<CheckContext, 'auth'>> = {},
): CheckContext {
  return {
    auth: authMethod(connector, authId),
    credentials: {},
    headers: {},
    timeoutMs: 5000,
    signal: new AbortController().signal,
    outbound: loopbackOnlyPolicy(),
    ...overrides,
    parameters: { ...parameterDefaults(connector), ...overrides.parameters },
  };
}
