/*
 * The raw baseline the service is measured against: node:http + a pg Pool,
 * nothing else on the request path. It serves the same routes, with the same
 * HS256 JWT check (a KeyObject, via jsonwebtoken), the same SQL and the same
 * JSON shape, for the benchmark's scenarios only:
 *
 *   GET   /v1/tenants/:tenant/integrations/:id    one integration (configMetadata included)
 *   GET   /v1/tenants/:tenant/integrations        keyset page (summary view), signed pageToken
 *   POST  /v1/tenants/:tenant/integrations        AES-256-GCM credentials; the row and its audit row in one statement
 *   PATCH /v1/tenants/:tenant/integrations/:id    read, If-Match, then the update and its audit row in one statement
 *                                                 if the row is unchanged (else again under SELECT … FOR UPDATE)
 *
 * Round trips are the service's own: one statement per write, written with
 * data-modifying CTEs, so the ratios measure what the framework and the
 * service's extra work cost, not a cheaper query plan.
 *   GET   /readyz
 *
 * Deliberately no logging, no metrics, no schema validation beyond the
 * essentials, no envelope keys: it is the floor, not a second implementation.
 * Env: PORT, HOST (127.0.0.1), DATABASE_URL, AUTH_JWT_SECRET. Prints
 * "LISTENING <port>" when ready.
 */
import { createCipheriv, createHash, createHmac, createSecretKey, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { verify, type JwtPayload } from 'jsonwebtoken';
import { Pool, type PoolClient } from 'pg';
import { findConnector } from '../../src/connectors/catalog';
import type { ConfigMetadata } from '../../src/connectors/connector.types';

const secret = process.env.AUTH_JWT_SECRET;
const databaseUrl = process.env.DATABASE_URL;
if (!secret || !databaseUrl) {
  process.stderr.write('baseline: AUTH_JWT_SECRET and DATABASE_URL are required\n');
  process.exit(1);
}
const jwtKey = createSecretKey(Buffer.from(secret, 'utf8'));
const encryptionKey = randomBytes(32);
const pageKey = randomBytes(32);
const pool = new Pool({ connectionString: databaseUrl, max: 20, application_name: 'switchboard-baseline' });

const REDACTED = '***REDACTED***';
const ID = /^[A-Za-z0-9_-]{1,64}$/;
const ROUTE = /^\/v1\/tenants\/([^/?]+)\/integrations(?:\/([^/?]+))?(?:\?(.*))?$/;
const RANK: Record<string, number> = { viewer: 1, editor: 2, admin: 3 };
const MAX_BODY = 1024 * 1024;

const COLUMNS = `tenant_id, id, seq, display_name, description, connector, type, config_metadata, parameters, auth_method, secrets, tags,
  is_internal, enabled, health_status, health_checked_at, health_latency_ms, health_last_error, host_key, destination_version, etag, created_at, modified_at`;
const SUMMARY_COLUMNS = COLUMNS.replace('config_metadata,', '');

interface Row {
  tenant_id: string;
  id: string;
  seq: string;
  display_name: string;
  description: string;
  connector: string;
  type: string;
  config_metadata: ConfigMetadata | null;
  parameters: Record<string, unknown>;
  auth_method: string | null;
  secrets: Partial<Record<'credentials' | 'headers' | 'parameters', Record<string, string>>>;
  tags: string[];
  is_internal: boolean;
  enabled: boolean;
  health_status: string;
  health_checked_at: Date | null;
  health_latency_ms: number | null;
  health_last_error: unknown;
  etag: string;
  created_at: Date;
  modified_at: Date;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    detail: string,
  ) {
    super(detail);
  }
}

function redact(blobs: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(blobs ?? {})) out[key] = REDACTED;
  return out;
}

function view(row: Row, withMetadata: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: row.id,
    tenantId: row.tenant_id,
    displayName: row.display_name,
    description: row.description,
    connector: row.connector,
    type: row.type,
    parameters: { ...row.parameters, ...redact(row.secrets.parameters) },
    authMethod: row.auth_method,
    credentials: redact(row.secrets.credentials),
    headers: redact(row.secrets.headers),
    tags: row.tags,
    isInternal: row.is_internal,
    enabled: row.enabled,
    health: {
      status: row.health_status,
      checkedAt: row.health_checked_at ? row.health_checked_at.toISOString() : null,
      latencyMs: row.health_latency_ms,
      lastError: row.health_last_error,
    },
    etag: row.etag,
    createdAt: row.created_at.toISOString(),
    modifiedAt: row.modified_at.toISOString(),
  };
  if (withMetadata) {
    out.configMetadata = row.config_metadata ?? findConnector(row.connector)?.configMetadata ?? { parametersMetadata: [], authMetadata: [] };
  }
  return out;
}

/** The same check as the service: HS256 only, exp enforced with 30 s of skew, sub required, the token's tenant must be the path's. */
function authorize(req: IncomingMessage, tenant: string, needed: 'viewer' | 'editor'): string {
  const header = req.headers.authorization;
  if (!header || !header.startsWith('Bearer ')) throw new HttpError(401, 'Unauthorized', 'A Bearer token is required.');
  let payload: JwtPayload;
  try {
    payload = verify(header.slice(7), jwtKey, { algorithms: ['HS256'], clockTolerance: 30 }) as JwtPayload;
  } catch {
    throw new HttpError(401, 'Unauthorized', 'The token is invalid.');
  }
  if (typeof payload.sub !== 'string' || payload.sub.length === 0) throw new HttpError(401, 'Unauthorized', 'The token is invalid.');
  const roles: unknown[] = Array.isArray(payload.roles) ? payload.roles : [];
  if (!roles.includes('platform-admin')) {
    if (payload.tenant_id !== tenant) throw new HttpError(403, 'Forbidden', 'The token does not act in this tenant.');
    const best = Math.max(0, ...roles.map((r) => (typeof r === 'string' ? (RANK[r] ?? 0) : 0)));
    if (best < RANK[needed]) throw new HttpError(403, 'Forbidden', `This action needs the ${needed} role.`);
  }
  return payload.sub;
}

function encrypt(tenant: string, id: string, field: string, value: unknown): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', encryptionKey, iv);
  cipher.setAAD(Buffer.from(`${tenant}|integration|${id}|${field}`));
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return `b1.${iv.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}.${ciphertext.toString('base64url')}`;
}

function encryptGroup(tenant: string, id: string, group: string, values: unknown, into: Record<string, string> = {}): Record<string, string> {
  if (values === undefined) return into;
  if (!isObject(values)) throw new HttpError(400, 'Invalid request', `${group} must be an object.`);
  for (const [key, value] of Object.entries(values)) {
    if (value === REDACTED) continue;
    if (value === null) delete into[key];
    else into[key] = encrypt(tenant, id, `${group}.${key}`, value);
  }
  return into;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function scopeDigest(tenant: string): string {
  return createHash('sha256').update(`integrations|${tenant}`).digest('base64url').slice(0, 22);
}

function encodePageToken(tenant: string, seq: string): string {
  const payload = Buffer.from(JSON.stringify({ s: seq, f: scopeDigest(tenant) })).toString('base64url');
  return `${payload}.${createHmac('sha256', pageKey).update(payload).digest('base64url')}`;
}

function decodePageToken(tenant: string, token: string): string {
  const [payload, signature, extra] = token.split('.');
  const expected = createHmac('sha256', pageKey).update(payload ?? '').digest();
  const given = Buffer.from(signature ?? '', 'base64url');
  if (!payload || extra !== undefined || given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new HttpError(400, 'Invalid request', 'pageToken is not a token this service issued.');
  }
  const cursor = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { s: string; f: string };
  if (cursor.f !== scopeDigest(tenant) || !/^\d+$/.test(cursor.s)) throw new HttpError(400, 'Invalid request', 'pageToken was issued for another list.');
  return cursor.s;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  if (!(req.headers['content-type'] ?? '').startsWith('application/json')) throw new HttpError(415, 'Unsupported media type', 'Send application/json.');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'Payload too large', 'The body is too large.');
    chunks.push(chunk as Buffer);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'Invalid request', 'The body is not valid JSON.');
  }
  if (!isObject(body)) throw new HttpError(400, 'Invalid request', 'The body must be a JSON object.');
  return body;
}

async function inTransaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

function eventId(): string {
  return `evt_${randomBytes(12).toString('hex')}`;
}

async function getOne(tenant: string, id: string): Promise<Row> {
  const { rows } = await pool.query<Row>(`SELECT ${COLUMNS} FROM integrations WHERE tenant_id = $1 AND id = $2`, [tenant, id]);
  if (!rows[0]) throw new HttpError(404, 'Not found', `Integration '${id}' does not exist in tenant '${tenant}'.`);
  return rows[0];
}

async function list(tenant: string, query: URLSearchParams): Promise<Record<string, unknown>> {
  const pageSize = query.has('pageSize') ? Number(query.get('pageSize')) : 50;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 200) throw new HttpError(400, 'Invalid request', 'pageSize must be 1..200.');
  const token = query.get('pageToken');
  const after = token === null ? null : decodePageToken(tenant, token);
  const { rows } = await pool.query<Row>(
    `SELECT ${SUMMARY_COLUMNS} FROM integrations
      WHERE tenant_id = $1 AND ($2::bigint IS NULL OR seq > $2::bigint)
        AND ($3::text IS NULL OR connector = $3) AND ($4::text IS NULL OR tags @> ARRAY[$4::text]) AND ($5::boolean IS NULL OR enabled = $5)
      ORDER BY seq LIMIT $6`,
    [tenant, after, null, null, null, pageSize + 1],
  );
  // An empty first page must tell "no such tenant" from "no integrations"; only then is the tenant looked up.
  if (rows.length === 0 && after === null) {
    const found = await pool.query(`SELECT 1 FROM tenants WHERE id = $1`, [tenant]);
    if (found.rows.length === 0) throw new HttpError(404, 'Not found', `Tenant '${tenant}' does not exist.`);
  }
  const page = rows.slice(0, pageSize);
  return {
    integrations: page.map((r) => view(r, false)),
    nextPageToken: rows.length > pageSize ? encodePageToken(tenant, page[page.length - 1].seq) : null,
  };
}

async function create(tenant: string, actor: string, requestId: string, body: Record<string, unknown>): Promise<Row> {
  const id = body.id;
  if (typeof id !== 'string' || !ID.test(id)) throw new HttpError(400, 'Invalid request', 'id must match ^[A-Za-z0-9_-]{1,64}$.');
  if (typeof body.displayName !== 'string' || body.displayName.length < 1 || body.displayName.length > 100) throw new HttpError(400, 'Invalid request', 'displayName is required.');
  if (typeof body.connector !== 'string' || !findConnector(body.connector)) throw new HttpError(422, 'Unprocessable request', 'Unknown connector.');
  const secrets = {
    credentials: encryptGroup(tenant, id, 'credentials', body.credentials),
    headers: encryptGroup(tenant, id, 'headers', body.headers),
    parameters: {},
  };
  try {
    const { rows } = await pool.query<Row>(
      `WITH created AS (
         INSERT INTO integrations (tenant_id, id, connector, type, display_name, description, config_metadata, parameters, auth_method, secrets, tags, is_internal, enabled, etag, destination_version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1) RETURNING ${COLUMNS}
       ), audited AS (
         INSERT INTO audit_events (tenant_id, id, actor, action, resource_type, resource_id, outcome, request_id, details)
         SELECT tenant_id, $15, $16, 'integration.created', 'integration', id, 'success', $17, '{}' FROM created
       )
       SELECT * FROM created`,
      [
        tenant,
        id,
        body.connector,
        body.type ?? 'SYSTEM',
        body.displayName,
        body.description ?? '',
        null,
        JSON.stringify(isObject(body.parameters) ? body.parameters : {}),
        body.authMethod ?? null,
        secrets,
        Array.isArray(body.tags) ? body.tags : [],
        body.isInternal === true,
        body.enabled !== false,
        randomBytes(12).toString('base64url'),
        eventId(),
        actor,
        requestId,
      ],
    );
    return rows[0];
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === '23505') throw new HttpError(409, 'Conflict', `An integration with id '${id}' already exists.`);
    if (code === '23503') throw new HttpError(404, 'Not found', `Tenant '${tenant}' does not exist.`);
    throw error;
  }
}

function ifMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined || header.trim() === '') return true;
  return header
    .split(',')
    .map((v) => v.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1'))
    .some((v) => v === '*' || v === etag);
}

const UPDATE_IF_UNCHANGED = `WITH updated AS (
     UPDATE integrations SET display_name = $5, description = $6, parameters = $7, secrets = $8, tags = $9, enabled = $10, etag = $11, modified_at = now()
      WHERE tenant_id = $1 AND id = $2 AND etag = $3 AND secrets = $4::jsonb RETURNING ${COLUMNS}
   ), audited AS (
     INSERT INTO audit_events (tenant_id, id, actor, action, resource_type, resource_id, outcome, request_id, details)
     SELECT tenant_id, $12, $13, 'integration.updated', 'integration', id, 'success', $14, '{}' FROM updated
   )
   SELECT * FROM updated`;

/** Read, check If-Match, write if unchanged: two round trips; on a lost race, the same under the row lock. */
async function update(tenant: string, id: string, actor: string, requestId: string, ifMatch: string | undefined, body: Record<string, unknown>): Promise<Row> {
  const attempt = async (db: Pick<PoolClient, 'query'>, current: Row | undefined): Promise<Row | undefined> => {
    if (!current) throw new HttpError(404, 'Not found', `Integration '${id}' does not exist in tenant '${tenant}'.`);
    if (!ifMatches(ifMatch, current.etag)) throw new HttpError(412, 'Precondition failed', 'The resource has changed since it was read.');
    const parameters = { ...current.parameters };
    if (isObject(body.parameters)) {
      for (const [k, v] of Object.entries(body.parameters)) {
        if (v === null) delete parameters[k];
        else parameters[k] = v;
      }
    }
    const secrets = {
      credentials: encryptGroup(tenant, id, 'credentials', body.credentials, { ...current.secrets.credentials }),
      headers: encryptGroup(tenant, id, 'headers', body.headers, { ...current.secrets.headers }),
      parameters: current.secrets.parameters ?? {},
    };
    const { rows } = await db.query<Row>(UPDATE_IF_UNCHANGED, [
      tenant,
      id,
      current.etag,
      current.secrets,
      typeof body.displayName === 'string' ? body.displayName : current.display_name,
      typeof body.description === 'string' ? body.description : current.description,
      JSON.stringify(parameters),
      secrets,
      Array.isArray(body.tags) ? body.tags : current.tags,
      typeof body.enabled === 'boolean' ? body.enabled : current.enabled,
      randomBytes(12).toString('base64url'),
      eventId(),
      actor,
      requestId,
    ]);
    return rows[0];
  };
  const read = await pool.query<Row>(`SELECT ${COLUMNS} FROM integrations WHERE tenant_id = $1 AND id = $2`, [tenant, id]);
  const written = await attempt(pool, read.rows[0]);
  if (written) return written;
  return inTransaction(async (client) => {
    const { rows } = await client.query<Row>(`SELECT ${COLUMNS} FROM integrations WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, [tenant, id]);
    const row = await attempt(client, rows[0]);
    if (!row) throw new Error('the locked row changed');
    return row;
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function handle(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  const url = req.url ?? '/';
  if (req.method === 'GET' && url === '/readyz') {
    await pool.query('SELECT 1');
    return send(res, 200, { status: 'ok', database: 'up' });
  }
  const match = ROUTE.exec(url);
  if (!match) throw new HttpError(404, 'Not found', 'No such route.');
  const tenant = decodeURIComponent(match[1]);
  const id = match[2] === undefined ? undefined : decodeURIComponent(match[2]);
  if (!ID.test(tenant) || (id !== undefined && !ID.test(id))) throw new HttpError(400, 'Invalid request', 'Ids must match ^[A-Za-z0-9_-]{1,64}$.');

  if (req.method === 'GET' && id !== undefined) {
    authorize(req, tenant, 'viewer');
    const row = await getOne(tenant, id);
    return send(res, 200, view(row, true), { ETag: `"${row.etag}"` });
  }
  if (req.method === 'GET') {
    authorize(req, tenant, 'viewer');
    return send(res, 200, await list(tenant, new URLSearchParams(match[3] ?? '')));
  }
  if (req.method === 'POST' && id === undefined) {
    const actor = authorize(req, tenant, 'editor');
    const row = await create(tenant, actor, requestId, await readJson(req));
    return send(res, 201, view(row, true), { ETag: `"${row.etag}"` });
  }
  if (req.method === 'PATCH' && id !== undefined) {
    const actor = authorize(req, tenant, 'editor');
    const ifMatch = req.headers['if-match'];
    const row = await update(tenant, id, actor, requestId, Array.isArray(ifMatch) ? ifMatch.join(',') : ifMatch, await readJson(req));
    return send(res, 200, view(row, true), { ETag: `"${row.etag}"` });
  }
  throw new HttpError(405, 'Method not allowed', 'Not supported by the baseline.');
}

const server = createServer((req, res) => {
  const requestId = `req_${randomUUID().replace(/-/g, '')}`;
  res.setHeader('X-Request-Id', requestId);
  handle(req, res, requestId).catch((error: unknown) => {
    const status = error instanceof HttpError ? error.status : 500;
    const title = error instanceof HttpError ? error.title : 'Internal error';
    const detail = error instanceof HttpError ? error.message : 'Something went wrong.';
    if (status === 500) process.stderr.write(`baseline: ${error instanceof Error ? error.message : String(error)}\n`);
    if (!res.headersSent) send(res, status, { type: 'about:blank', title, status, detail, instance: req.url, requestId });
    else res.destroy();
  });
});
server.keepAliveTimeout = 65_000;

server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`LISTENING ${typeof address === 'object' && address ? address.port : 0}\n`);
});

const stop = () => {
  server.close();
  server.closeIdleConnections();
  void pool.end().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
