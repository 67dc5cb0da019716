import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { uniqueId } from './test-app';
import { bearer, mintToken } from './tokens';

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface ApiReply {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
  json: any;
}

/** Thin wrapper over app.inject: one call per request, JSON parsed when there is a body. */
export function apiClient(app: NestFastifyApplication) {
  return async function call(method: Method, url: string, options: { token: string; payload?: unknown; headers?: Record<string, string> }): Promise<ApiReply> {
    const res = await app.inject({
      method,
      url,
      headers: { ...bearer(options.token), ...(options.headers ?? {}) },
      ...(options.payload === undefined ? {} : { payload: options.payload as Record<string, unknown> }),
    });
    let json: unknown = undefined;
    if (res.body) {
      try {
        json = JSON.parse(res.body);
      } catch {
        json = undefined;
      }
    }
    return { status: res.statusCode, headers: res.headers, body: res.body, json };
  };
}

/** Creates a tenant through the API (as platform-admin) and answers its id plus tokens for each role in it. */
export async function createTenant(app: NestFastifyApplication, prefix = 't'): Promise<{ tenant: string; editor: string; viewer: string; admin: string }> {
  const tenant = uniqueId(prefix);
  const res = await app.inject({
    method: 'POST',
    url: '/v1/tenants',
    headers: bearer(mintToken({ roles: ['platform-admin'], sub: 'root' })),
    payload: { id: tenant, displayName: `Tenant ${tenant}` },
  });
  if (res.statusCode !== 201) throw new Error(`tenant create failed: ${res.statusCode} ${res.body}`);
  return {
    tenant,
    editor: mintToken({ tenant, roles: ['editor'], sub: 'ed' }),
    viewer: mintToken({ tenant, roles: ['viewer'], sub: 'vi' }),
    admin: mintToken({ tenant, roles: ['admin'], sub: 'ad' }),
  };
}

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/**
 * A loopback HTTP server standing in for a third-party API: it records every
 * request and answers 200 only when the X-API-Key header (or bearer token)
 * equals `acceptedKey`, else 401. The only way a test can observe a stored secret.
 */
export interface FakeUpstream {
  url: string;
  port: number;
  seen: SeenRequest[];
  acceptedKey: string;
  close(): Promise<void>;
}

export async function startFakeUpstream(acceptedKey: string): Promise<FakeUpstream> {
  const seen: SeenRequest[] = [];
  const upstream: FakeUpstream = { url: '', port: 0, seen, acceptedKey, close: async () => undefined };
  const server: Server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const bearerToken = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    const ok = req.headers['x-api-key'] === upstream.acceptedKey || bearerToken === upstream.acceptedKey;
    res.statusCode = ok ? 200 : 401;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ok }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  upstream.port = (server.address() as AddressInfo).port;
  upstream.url = `http://127.0.0.1:${upstream.port}`;
  upstream.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return upstream;
}

/** A create body for the generic http connector with an API key, pointed at `baseUrl`. */
export function httpIntegration(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: uniqueId('int'),
    displayName: 'Example API',
    description: 'An HTTP integration made by a test',
    connector: 'http',
    parameters: { baseUrl: 'https://api.example.com' },
    authMethod: 'API_KEY',
    credentials: { apiKey: 'test-key-0000' },
    tags: ['test'],
    ...overrides,
  };
}

/** A CUSTOM configMetadata exercising every parameter type, one secret parameter and one API key auth method. */
export function customMetadata(): Record<string, unknown> {
  return {
    parametersMetadata: [
      { name: 'baseUrl', type: 'Url', required: true },
      { name: 'retries', type: 'Integer', integerRange: { min: 0, max: 5 } },
      { name: 'ratio', type: 'Float', floatRange: { min: 0, max: 1 } },
      { name: 'verbose', type: 'Boolean' },
      { name: 'region', type: 'Options', options: [{ value: 'eu' }, { value: 'us' }] },
      { name: 'filter', type: 'Json', jsonSchema: { type: 'object', required: ['kind'], properties: { kind: { type: 'string' } } } },
      { name: 'signingSecret', type: 'String', secret: true },
    ],
    authMetadata: [
      {
        id: 'API_KEY',
        type: 'API_KEY',
        parametersMetadata: [{ name: 'apiKey', type: 'String', required: true, secret: true }],
      },
    ],
  };
}
