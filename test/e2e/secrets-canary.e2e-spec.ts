import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client } from 'pg';
import { apiClient, createTenant, customMetadata, httpIntegration, type ApiReply } from '../support/integrations-fixtures';
import { startTestApp } from '../support/test-app';

// Many requests per test against a real database, and suites run in parallel.
jest.setTimeout(30_000);

// The real module object, so the spies below see every write pino or Nest makes to fd 1/2.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fs: typeof import('node:fs') = require('fs');

/** Every spelling of a secret a careless log line, body or column could hold. */
function forms(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const b64 = bytes.toString('base64');
  return [secret, b64, b64.replace(/=+$/, ''), bytes.toString('base64url'), bytes.toString('hex'), bytes.toString('hex').toUpperCase()];
}

function leaks(text: string, secrets: string[]): string[] {
  const found: string[] = [];
  for (const secret of secrets) for (const form of forms(secret)) if (text.includes(form)) found.push(`${secret} as ${form === secret ? 'raw' : form}`);
  return found;
}

/** Captures whatever the process writes to stdout/stderr, by any route (stream or fd). */
function captureOutput(): { text: () => string; restore: () => void } {
  const chunks: string[] = [];
  const record = (chunk: unknown) => chunks.push(Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk));
  const stdoutWrite = process.stdout.write;
  const stderrWrite = process.stderr.write;
  const fsWrite = fs.write;
  const fsWriteSync = fs.writeSync;
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    record(chunk);
    return (stdoutWrite as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => {
    record(chunk);
    return (stderrWrite as (...a: unknown[]) => boolean).call(process.stderr, chunk, ...rest);
  }) as typeof process.stderr.write;
  (fs as { write: unknown }).write = (fd: number, chunk: unknown, ...rest: unknown[]) => {
    if (fd === 1 || fd === 2) record(chunk);
    return (fsWrite as (...a: unknown[]) => unknown).call(fs, fd, chunk, ...rest);
  };
  (fs as { writeSync: unknown }).writeSync = (fd: number, chunk: unknown, ...rest: unknown[]) => {
    if (fd === 1 || fd === 2) record(chunk);
    return (fsWriteSync as (...a: unknown[]) => unknown).call(fs, fd, chunk, ...rest);
  };
  return {
    text: () => chunks.join(''),
    restore: () => {
      process.stdout.write = stdoutWrite;
      process.stderr.write = stderrWrite;
      (fs as { write: unknown }).write = fsWrite;
      (fs as { writeSync: unknown }).writeSync = fsWriteSync;
    },
  };
}

/** An upstream that echoes whatever credentials it is sent, in its body and headers, and refuses them: the worst case for leaks. */
async function startEchoingUpstream(): Promise<{ url: string; received: string[]; close: () => Promise<void> }> {
  const received: string[] = [];
  const server: Server = createServer((req, res) => {
    const echoed = JSON.stringify({ youSent: req.headers, url: req.url });
    received.push(echoed);
    res.statusCode = 401;
    res.setHeader('content-type', 'application/json');
    res.setHeader('x-echo-key', String(req.headers['x-api-key'] ?? ''));
    res.end(JSON.stringify({ error: `invalid key ${String(req.headers['x-api-key'])}`, echoed }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function dumpDatabase(url: string): Promise<string> {
  const dump = spawnSync('pg_dump', ['--no-owner', '--no-privileges', '--dbname', url], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  if (dump.status === 0 && dump.stdout.length > 0) return dump.stdout;
  // No pg_dump on PATH: every row of every table as JSON instead.
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const tables = await client.query<{ name: string }>(`SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS name FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`);
    const parts: string[] = [];
    for (const { name } of tables.rows) {
      const rows = await client.query<{ row: string }>(`SELECT row_to_json(t)::text AS row FROM ${name} t`);
      parts.push(...rows.rows.map((r) => r.row));
    }
    return parts.join('\n');
  } finally {
    await client.end();
  }
}

describe('secret canaries never leave the service', () => {
  const canary = {
    credential: `cnryCred${randomBytes(12).toString('hex')}`,
    rotated: `cnryRot${randomBytes(12).toString('hex')}`,
    header: `cnryHdr${randomBytes(12).toString('hex')}`,
    parameter: `cnryPrm${randomBytes(12).toString('hex')}`,
    tested: `cnryTst${randomBytes(12).toString('hex')}`,
    refused: `cnryRef${randomBytes(12).toString('hex')}`,
  };
  const secrets = Object.values(canary);
  let app: NestFastifyApplication;
  let api: ReturnType<typeof apiClient>;
  let upstream: Awaited<ReturnType<typeof startEchoingUpstream>>;
  let output: ReturnType<typeof captureOutput>;
  const replies: { what: string; reply: ApiReply }[] = [];
  let tenant: { tenant: string; editor: string; viewer: string; admin: string };

  beforeAll(async () => {
    upstream = await startEchoingUpstream();
    output = captureOutput();
    ({ app } = await startTestApp({ LOG_LEVEL: 'debug' }));
    api = apiClient(app);
    tenant = await createTenant(app, 'canary');
    const base = `/v1/tenants/${tenant.tenant}/integrations`;
    const call = async (what: string, ...args: Parameters<typeof api>) => {
      const reply = await api(...args);
      replies.push({ what, reply });
      return reply;
    };
    const custom = httpIntegration({
      id: 'canary',
      type: 'CUSTOM',
      configMetadata: customMetadata(),
      parameters: { baseUrl: upstream.url, signingSecret: canary.parameter },
      credentials: { apiKey: canary.credential },
      headers: { 'X-Canary': canary.header },
    });
    await call('create', 'POST', base, { token: tenant.editor, payload: custom, headers: { 'idempotency-key': 'canary-create' } });
    await call('create replay', 'POST', base, { token: tenant.editor, payload: custom, headers: { 'idempotency-key': 'canary-create' } });
    await call('create conflict', 'POST', base, { token: tenant.editor, payload: custom });
    await call('create system', 'POST', base, {
      token: tenant.editor,
      payload: httpIntegration({ id: 'plain', parameters: { baseUrl: upstream.url }, credentials: { apiKey: canary.credential }, headers: { 'X-Canary': canary.header } }),
    });
    await call('get', 'GET', `${base}/canary`, { token: tenant.viewer });
    await call('list', 'GET', base, { token: tenant.viewer });
    await call('list full', 'GET', `${base}?view=FULL`, { token: tenant.viewer });
    await call('verify', 'POST', `${base}/canary:verifyConfig`, { token: tenant.editor });
    await call('verify plain', 'POST', `${base}/plain:verifyConfig`, { token: tenant.editor });
    await call('patch', 'PATCH', `${base}/canary`, { token: tenant.editor, payload: { credentials: { apiKey: canary.rotated }, displayName: 'Rotated' } });
    await call('verify rotated', 'POST', `${base}/canary:verifyConfig`, { token: tenant.editor });
    await call('get after verify', 'GET', `${base}/canary`, { token: tenant.viewer });
    await call('patch refused destination', 'PATCH', `${base}/canary`, { token: tenant.editor, payload: { parameters: { baseUrl: 'https://elsewhere.example.com' } } });
    await call('patch refused value', 'PATCH', `${base}/canary`, { token: tenant.editor, payload: { parameters: { signingSecret: 12345 }, credentials: { apiKey: canary.refused, unknownKey: canary.refused } } });
    await call('create refused', 'POST', base, { token: tenant.editor, payload: httpIntegration({ id: 'refused', credentials: { apiKey: canary.refused, extra: canary.refused }, parameters: { baseUrl: canary.refused } }) });
    await call('create malformed', 'POST', base, { token: tenant.editor, payload: httpIntegration({ id: 'bad id', credentials: { apiKey: canary.refused } }) });
    await call('idempotency mismatch', 'POST', base, { token: tenant.editor, payload: { ...custom, credentials: { apiKey: canary.refused } }, headers: { 'idempotency-key': 'canary-create' } });
    await call('testConfig', 'POST', `${base}:testConfig`, { token: tenant.editor, payload: { ...custom, id: 'trial', credentials: { apiKey: canary.tested } } });
    await call('audit', 'GET', `/v1/tenants/${tenant.tenant}/audit-events`, { token: tenant.admin });
    await call('openapi', 'GET', '/openapi.json', { token: tenant.viewer });
    await call('delete', 'DELETE', `${base}/plain`, { token: tenant.editor });
  });

  afterAll(async () => {
    output.restore();
    await app.close();
    await upstream.close();
  });

  it('really stored and used the canaries: the upstream received them (so the checks below can fail)', () => {
    const received = upstream.received.join('\n');
    expect(received).toContain(canary.credential);
    expect(received).toContain(canary.rotated);
    expect(received).toContain(canary.header);
    expect(received).toContain(canary.tested);
    expect(replies.find((r) => r.what === 'create')?.reply.status).toBe(201);
    expect(replies.find((r) => r.what === 'verify')?.reply.json.error.code).toBe('AUTH_FAILED');
  });

  it('answered every step without a 5xx', () => {
    expect(replies.filter((r) => r.reply.status >= 500).map((r) => `${r.what}: ${r.reply.status}`)).toEqual([]);
    expect(replies.find((r) => r.what === 'patch refused destination')?.reply.status).toBe(422);
    expect(replies.find((r) => r.what === 'patch refused value')?.reply.status).toBe(422);
    expect(replies.find((r) => r.what === 'create refused')?.reply.status).toBe(422);
    expect(replies.find((r) => r.what === 'create malformed')?.reply.status).toBe(400);
    expect(replies.find((r) => r.what === 'idempotency mismatch')?.reply.status).toBe(422);
  });

  it('puts no canary in any response body or header, raw, base64 or hex', () => {
    for (const { what, reply } of replies) {
      expect({ what, leaks: leaks(reply.body, secrets) }).toEqual({ what, leaks: [] });
      expect({ what, leaks: leaks(JSON.stringify(reply.headers), secrets) }).toEqual({ what, leaks: [] });
    }
  });

  it('writes no canary to the logs at LOG_LEVEL=debug (and the capture did see the request logs)', () => {
    const logs = output.text();
    expect(logs).toContain(`/v1/tenants/${tenant.tenant}/integrations`);
    expect(leaks(logs, secrets)).toEqual([]);
  });

  it('stores no canary in the audit log, the idempotency cache, or anywhere in a pg_dump of the database', async () => {
    const url = process.env.TEST_DATABASE_URL!;
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      const audit = await client.query<{ row: string }>(`SELECT row_to_json(a)::text AS row FROM audit_events a WHERE tenant_id = $1`, [tenant.tenant]);
      expect(audit.rows.length).toBeGreaterThanOrEqual(5);
      expect(leaks(audit.rows.map((r) => r.row).join('\n'), secrets)).toEqual([]);
      const idem = await client.query<{ row: string }>(`SELECT row_to_json(k)::text AS row FROM idempotency_keys k WHERE scope = $1`, [tenant.tenant]);
      expect(idem.rows).toHaveLength(1);
      expect(leaks(idem.rows[0].row, secrets)).toEqual([]);
    } finally {
      await client.end();
    }
    const dump = await dumpDatabase(url);
    expect(dump).toContain(tenant.tenant);
    expect(dump).toMatch(/sb1\.dk_[0-9a-f]{16}\./);
    expect(leaks(dump, secrets)).toEqual([]);
  });

  it('marks credentials and headers writeOnly in the OpenAPI document, with no example that looks like a real secret', () => {
    const doc = replies.find((r) => r.what === 'openapi')!.reply.json;
    const schemas = doc.components.schemas;
    for (const name of ['CreateIntegrationDto', 'UpdateIntegrationDto']) {
      for (const field of ['credentials', 'headers']) {
        expect({ name, field, writeOnly: schemas[name].properties[field].writeOnly }).toEqual({ name, field, writeOnly: true });
      }
    }
    const looksLikeSecret = /^(gh[pousr]_|xox[abprs]-|sk_(live|test)_|AKIA[0-9A-Z]{12}|eyJ|-----BEGIN)|[A-Za-z0-9+/_-]{32,}/;
    const examples: string[] = [];
    const walk = (node: unknown, key: string) => {
      if (typeof node === 'string') {
        if (key === 'example' || key === 'examples' || key === 'default') examples.push(node);
        return;
      }
      if (!node || typeof node !== 'object') return;
      for (const [k, v] of Object.entries(node)) walk(v, key === 'example' || key === 'examples' ? key : k);
    };
    walk(doc, '');
    expect(examples.length).toBeGreaterThan(0);
    expect(examples.filter((e) => looksLikeSecret.test(e))).toEqual([]);
  });
});
