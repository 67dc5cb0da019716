import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { verify, type JwtPayload } from 'jsonwebtoken';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { CryptoService } from '../../src/common/crypto/crypto.service';
import { generateKeyEntry, parseKeyring } from '../../src/common/crypto/keyring';
import { PgTenantKeyStore } from '../../src/common/crypto/pg-tenant-key.store';
import { KeyRotation, ROTATION_ACTOR, type RowDone } from '../../src/common/crypto/rotation';
import { blobDataKeyId } from '../../src/common/crypto/secret-box';
import { createDataSource, runMigrationsExclusively } from '../../src/database/data-source';
import { startTestApp } from '../support/test-app';
import { bearer, mintToken } from '../support/tokens';

// Rotation runs and the CLI children (ts-node start-up) take longer than a unit test.
jest.setTimeout(120_000);

const ROOT = resolve(__dirname, '..', '..');
const TS_NODE = require.resolve('ts-node/dist/bin.js');
const OLD = generateKeyEntry('old');
const NEW = generateKeyEntry('new');

/** One stored secret as the test wrote it: where it is and what it decrypts to. */
interface Stored {
  table: string;
  resourceType: string;
  tenantId: string;
  id: string;
  group: string;
  key: string;
  plaintext: unknown;
}

const databases: { name: string; dataSource: DataSource }[] = [];

/** A database of its own for each test: rotation walks every tenant, so nothing else may share it. */
async function freshDatabase(): Promise<{ url: string; dataSource: DataSource }> {
  const serverUrl = process.env.TEST_SERVER_URL ?? process.env.DATABASE_URL;
  if (!serverUrl) throw new Error('run through npm test (DATABASE_URL / TEST_SERVER_URL unset)');
  const name = `switchboard_keyrot_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const dataSource = await createDataSource(url.toString()).initialize();
  databases.push({ name, dataSource });
  await runMigrationsExclusively(dataSource);
  return { url: url.toString(), dataSource };
}

afterAll(async () => {
  const serverUrl = process.env.TEST_SERVER_URL ?? process.env.DATABASE_URL;
  for (const { dataSource } of databases) await dataSource.destroy();
  if (!serverUrl || databases.length === 0) return;
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  for (const { name } of databases) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
});

function cryptoWith(dataSource: DataSource, ...entries: string[]): CryptoService {
  return new CryptoService(parseKeyring(entries.join(',')), new PgTenantKeyStore(dataSource));
}

function binding(s: Stored) {
  return { tenantId: s.tenantId, resourceType: s.resourceType, resourceId: s.id, field: `${s.group}.${s.key}` };
}

/** Tenants with integrations whose secrets are encrypted by `crypto`, inserted with plain SQL as the service would store them. */
async function seed(dataSource: DataSource, crypto: CryptoService, tenants: Record<string, number>): Promise<Stored[]> {
  const stored: Stored[] = [];
  for (const [tenantId, count] of Object.entries(tenants)) {
    await dataSource.query(`INSERT INTO tenants (id, display_name, etag) VALUES ($1, $2, 'etag-t')`, [tenantId, tenantId]);
    for (let i = 0; i < count; i += 1) {
      const id = `int-${String(i).padStart(3, '0')}`;
      const plain: Record<string, Record<string, unknown>> = {
        credentials: { token: `tok-${tenantId}-${id}-${randomBytes(6).toString('hex')}`, password: `pw-${i}` },
        headers: { 'X-Api-Key': `hdr-${tenantId}-${i}` },
        parameters: { clientSecret: { nested: [i, 'json values survive too'] } },
      };
      const secrets: Record<string, Record<string, string>> = {};
      for (const [group, entries] of Object.entries(plain)) {
        secrets[group] = {};
        for (const [key, plaintext] of Object.entries(entries)) {
          const s: Stored = { table: 'integrations', resourceType: 'integration', tenantId, id, group, key, plaintext };
          secrets[group][key] = await crypto.encrypt(binding(s), plaintext);
          stored.push(s);
        }
      }
      await dataSource.query(
        `INSERT INTO integrations (tenant_id, id, display_name, connector, type, etag, parameters, secrets)
         VALUES ($1, $2, $3, 'http', 'SYSTEM', $4, $5::jsonb, $6::jsonb)`,
        [tenantId, id, `Integration ${i}`, `etag-${id}`, JSON.stringify({ baseUrl: 'https://api.example.com' }), JSON.stringify(secrets)],
      );
    }
  }
  return stored;
}

async function blobOf(dataSource: DataSource, s: Stored): Promise<string> {
  const [row]: { secrets: Record<string, Record<string, string>> }[] = await dataSource.query(
    `SELECT secrets FROM ${s.table} WHERE tenant_id = $1 AND id = $2`,
    [s.tenantId, s.id],
  );
  return row.secrets[s.group][s.key];
}

async function activeKeys(dataSource: DataSource): Promise<Map<string, string>> {
  const rows: { tenant_id: string; id: string }[] = await dataSource.query(`SELECT tenant_id, id FROM tenant_data_keys WHERE retired_at IS NULL`);
  return new Map(rows.map((r) => [r.tenant_id, r.id]));
}

async function keyCount(dataSource: DataSource, tenantId: string): Promise<number> {
  const [row]: { n: number }[] = await dataSource.query(`SELECT count(*)::int AS n FROM tenant_data_keys WHERE tenant_id = $1`, [tenantId]);
  return row.n;
}

/** Every stored secret decrypts to what was written with only `keys`, and lies under its tenant's one active data key. */
async function expectAllReadable(dataSource: DataSource, stored: Stored[], ...keys: string[]): Promise<void> {
  const crypto = cryptoWith(dataSource, ...keys);
  const active = await activeKeys(dataSource);
  for (const s of stored) {
    const blob = await blobOf(dataSource, s);
    expect(blobDataKeyId(blob)).toBe(active.get(s.tenantId));
    await expect(crypto.decrypt(binding(s), blob)).resolves.toEqual(s.plaintext);
  }
}

/** Tenants with a stored secret that is not under their active data key. */
async function staleTenants(dataSource: DataSource, stored: Stored[]): Promise<Set<string>> {
  const active = await activeKeys(dataSource);
  const stale = new Set<string>();
  for (const s of stored) {
    if (blobDataKeyId(await blobOf(dataSource, s)) !== active.get(s.tenantId)) stale.add(s.tenantId);
  }
  return stale;
}

class Interrupted extends Error {}

function stopAfter(rows: number): (row: RowDone) => void {
  let seen = 0;
  return () => {
    seen += 1;
    if (seen >= rows) throw new Interrupted(`stopped after ${rows} rows`);
  };
}

describe('key rotation', () => {
  it('re-wraps every data key under the new master key, re-encrypts every secret, and the new key alone then reads them all', async () => {
    const { dataSource } = await freshDatabase();
    const stored = await seed(dataSource, cryptoWith(dataSource, OLD), { acme: 4, globex: 3 });
    await dataSource.query(`INSERT INTO tenants (id, display_name, etag) VALUES ('initech', 'no secrets', 'e')`);
    const before = new Map<Stored, string>();
    for (const s of stored) before.set(s, await blobOf(dataSource, s));
    const etagsBefore: unknown[] = await dataSource.query(`SELECT tenant_id, id, etag FROM integrations ORDER BY tenant_id, id`);

    const rotation = new KeyRotation(dataSource, cryptoWith(dataSource, NEW, OLD));
    await expect(rotation.rewrapAll(1)).resolves.toEqual({ dataKeys: 2, tenants: 2 });
    const kids: { master_kid: string }[] = await dataSource.query(`SELECT DISTINCT master_kid FROM tenant_data_keys`);
    expect(kids).toEqual([{ master_kid: 'new' }]);
    // Re-wrapping alone is enough to drop the old master key: the data keys did not change.
    await expectAllReadable(dataSource, stored, NEW);

    await expect(rotation.reencryptAll(3)).resolves.toEqual({ tenants: 2, rotated: 2, rows: 7, blobs: stored.length, unreadable: 0 });
    await expectAllReadable(dataSource, stored, NEW);
    for (const s of stored) expect(await blobOf(dataSource, s)).not.toBe(before.get(s));
    expect(await keyCount(dataSource, 'acme')).toBe(2);
    expect(await keyCount(dataSource, 'initech')).toBe(0);
    // Only the secrets column changed: clients' If-Match etags stay valid.
    await expect(dataSource.query(`SELECT tenant_id, id, etag FROM integrations ORDER BY tenant_id, id`)).resolves.toEqual(etagsBefore);

    const events: { tenant_id: string; id: string; actor: string; resource_type: string; resource_id: string; outcome: string; details: { step: string } }[] =
      await dataSource.query(`SELECT tenant_id, id, actor, resource_type, resource_id, outcome, details FROM audit_events WHERE action = 'key.rotated' ORDER BY seq`);
    expect(events.map((e) => [e.tenant_id, e.details.step])).toEqual([
      ['acme', 'rewrap'],
      ['globex', 'rewrap'],
      ['acme', 'reencrypt'],
      ['globex', 'reencrypt'],
    ]);
    // The same facts go to the webhook outbox.
    const outbox: { tenant_id: string; data: { step: string } }[] = await dataSource.query(`SELECT tenant_id, data FROM events WHERE type = 'key.rotated' ORDER BY seq`);
    expect(outbox.map((e) => [e.tenant_id, e.data.step])).toEqual(events.map((e) => [e.tenant_id, e.details.step]));
    for (const e of events) {
      expect(e).toMatchObject({ actor: ROTATION_ACTOR, resource_type: 'tenant', resource_id: e.tenant_id, outcome: 'success' });
      expect(e.id).toMatch(/^evt_[0-9a-f]{24}$/);
      expect(JSON.stringify(e)).not.toMatch(/tok-|pw-|hdr-/);
    }
  });

  it('is idempotent: a second re-wrap changes nothing', async () => {
    const { dataSource } = await freshDatabase();
    const stored = await seed(dataSource, cryptoWith(dataSource, OLD), { acme: 2 });
    const rotation = new KeyRotation(dataSource, cryptoWith(dataSource, NEW, OLD));
    await rotation.rewrapAll(10);
    await expect(rotation.rewrapAll(10)).resolves.toEqual({ dataKeys: 0, tenants: 0 });
    await expectAllReadable(dataSource, stored, NEW);
  });

  it('resumes an interrupted re-encryption without rotating the data key again', async () => {
    const { dataSource } = await freshDatabase();
    const stored = await seed(dataSource, cryptoWith(dataSource, OLD), { acme: 6, globex: 2 });
    const crypto = cryptoWith(dataSource, NEW, OLD);
    await new KeyRotation(dataSource, crypto).rewrapAll(100);

    const interrupted = new KeyRotation(dataSource, crypto, { afterRow: stopAfter(4) });
    await expect(interrupted.reencryptAll(2)).rejects.toThrow(Interrupted);
    const active = await activeKeys(dataSource);
    const acme = stored.filter((s) => s.tenantId === 'acme');
    const moved = await Promise.all(acme.map(async (s) => blobDataKeyId(await blobOf(dataSource, s)) === active.get('acme')));
    expect(moved.filter(Boolean)).toHaveLength(4 * 4);
    expect(await keyCount(dataSource, 'acme')).toBe(2);
    expect(await keyCount(dataSource, 'globex')).toBe(1);

    const resumed = await new KeyRotation(dataSource, crypto).reencryptAll(2);
    expect(resumed).toMatchObject({ rotated: 1, rows: 2 + 2, unreadable: 0 });
    expect(await keyCount(dataSource, 'acme')).toBe(2);
    expect(await keyCount(dataSource, 'globex')).toBe(2);
    expect((await activeKeys(dataSource)).get('acme')).toBe(active.get('acme'));
    await expectAllReadable(dataSource, stored, NEW);
  });

  it('finishes with every secret under one active key whichever row the run is stopped after', async () => {
    const { dataSource } = await freshDatabase();
    const stored = await seed(dataSource, cryptoWith(dataSource, OLD), { acme: 3, globex: 3 });
    const crypto = cryptoWith(dataSource, NEW, OLD);
    await new KeyRotation(dataSource, crypto).rewrapAll(100);
    for (let rows = 1; rows <= 6; rows += 1) {
      await expect(new KeyRotation(dataSource, crypto, { afterRow: stopAfter(rows) }).reencryptAll(2)).rejects.toThrow(Interrupted);
      const unfinished = await staleTenants(dataSource, stored);
      const keysBefore = { acme: await keyCount(dataSource, 'acme'), globex: await keyCount(dataSource, 'globex') };
      // Stopped again straight away: a tenant with unfinished secrets must not get yet another key.
      await expect(new KeyRotation(dataSource, crypto, { afterRow: stopAfter(1) }).reencryptAll(1)).rejects.toThrow(Interrupted);
      for (const tenantId of unfinished) expect(await keyCount(dataSource, tenantId)).toBe(keysBefore[tenantId as 'acme' | 'globex']);
      await new KeyRotation(dataSource, crypto).reencryptAll(2);
      await expectAllReadable(dataSource, stored, NEW);
      expect(await staleTenants(dataSource, stored)).toEqual(new Set());
    }
  });

  it('waits for a row the service holds FOR UPDATE and keeps what the service wrote, also when it wrote under the old key', async () => {
    const { dataSource } = await freshDatabase();
    const old = cryptoWith(dataSource, OLD);
    const stored = await seed(dataSource, old, { acme: 5 });
    const crypto = cryptoWith(dataSource, NEW, OLD);
    await new KeyRotation(dataSource, crypto).rewrapAll(100);
    const target = (id: string) => stored.find((s) => s.id === id && s.group === 'credentials' && s.key === 'token')!;
    // Blobs made before the rotation, as a service instance that read the old active key would write them.
    const late = { ...target('int-003'), plaintext: 'written-while-locked' };
    const straggler = { ...target('int-000'), plaintext: 'written-after-its-row-was-done' };
    const lateBlob = await old.encrypt(binding(late), late.plaintext);
    const stragglerBlob = await old.encrypt(binding(straggler), straggler.plaintext);

    let writer: Promise<void> = Promise.resolve();
    const rotation = new KeyRotation(dataSource, crypto, {
      afterRow: async ({ id }) => {
        if (id !== 'int-001') return;
        await dataSource.query(
          `UPDATE integrations SET secrets = jsonb_set(secrets, '{credentials,token}', to_jsonb($3::text)) WHERE tenant_id = $1 AND id = $2`,
          ['acme', 'int-000', stragglerBlob],
        );
        const runner = dataSource.createQueryRunner();
        await runner.connect();
        await runner.startTransaction();
        await runner.query(`SELECT 1 FROM integrations WHERE tenant_id = 'acme' AND id = 'int-003' FOR UPDATE`);
        writer = (async () => {
          await new Promise((done) => setTimeout(done, 300));
          await runner.query(
            `UPDATE integrations SET secrets = jsonb_set(secrets, '{credentials,token}', to_jsonb($1::text)) WHERE tenant_id = 'acme' AND id = 'int-003'`,
            [lateBlob],
          );
          await runner.commitTransaction();
          await runner.release();
        })();
      },
    });
    await rotation.reencryptAll(100);
    await writer;
    const expected = stored.map((s) => (s === target('int-003') ? late : s === target('int-000') ? straggler : s));
    await expectAllReadable(dataSource, expected, NEW);
  });

  it('leaves a secret it cannot decrypt exactly as it was, reports it, and does not rotate past it', async () => {
    const { dataSource } = await freshDatabase();
    const stored = await seed(dataSource, cryptoWith(dataSource, OLD), { acme: 2 });
    const crypto = cryptoWith(dataSource, NEW, OLD);
    // A blob moved to another field no longer opens (its binding is in the associated data).
    const moved = await blobOf(dataSource, stored[0]);
    await dataSource.query(`UPDATE integrations SET secrets = jsonb_set(secrets, '{credentials,moved}', to_jsonb($1::text)) WHERE id = 'int-001'`, [moved]);
    const logs: string[] = [];
    const rotation = new KeyRotation(dataSource, crypto, { log: (m) => logs.push(m) });
    await rotation.rewrapAll(100);
    await expect(rotation.reencryptAll(100)).resolves.toMatchObject({ rotated: 1, unreadable: 1, blobs: stored.length });
    await expectAllReadable(dataSource, stored, NEW);
    const [row]: { secrets: { credentials: { moved: string } } }[] = await dataSource.query(`SELECT secrets FROM integrations WHERE id = 'int-001'`);
    expect(row.secrets.credentials.moved).toBe(moved);
    expect(logs.join('\n')).toContain('int-001 credentials.moved: cannot be decrypted');
    // The unreadable blob still names an older key, so the next run finishes rather than rotating again.
    await expect(rotation.reencryptAll(100)).resolves.toMatchObject({ rotated: 0, blobs: 0, unreadable: 1 });
  });

  it('re-encrypts the secrets of connections and webhook endpoints too', async () => {
    const { dataSource } = await freshDatabase();
    const old = cryptoWith(dataSource, OLD);
    const stored = await seed(dataSource, old, { acme: 1 });
    const connection: Stored = { table: 'connections', resourceType: 'connection', tenantId: 'acme', id: 'conn_1', group: 'credentials', key: 'accessToken', plaintext: 'conn-token' };
    const endpoint: Stored = { table: 'webhook_endpoints', resourceType: 'webhook_endpoint', tenantId: 'acme', id: 'whep_1', group: 'signing', key: 'current', plaintext: 'whsec_x' };
    await dataSource.query(
      `INSERT INTO connections (tenant_id, id, integration_id, owner_id, name, access_scope, etag, secrets)
       VALUES ('acme', 'conn_1', 'int-000', 'alice', 'mine', 'personal', 'e', $1::jsonb)`,
      [JSON.stringify({ credentials: { accessToken: await old.encrypt(binding(connection), connection.plaintext) } })],
    );
    await dataSource.query(
      `INSERT INTO webhook_endpoints (tenant_id, id, url, events, etag, secrets) VALUES ('acme', 'whep_1', 'https://hooks.example.com', '{*}', 'e', $1::jsonb)`,
      [JSON.stringify({ signing: { current: await old.encrypt(binding(endpoint), endpoint.plaintext) } })],
    );
    stored.push(connection, endpoint);
    const rotation = new KeyRotation(dataSource, cryptoWith(dataSource, NEW, OLD));
    await rotation.rewrapAll(100);
    await expect(rotation.reencryptAll(100)).resolves.toMatchObject({ rows: 3, blobs: stored.length });
    await expectAllReadable(dataSource, stored, NEW);
  });

  it('skips secret tables that do not exist (features not deployed yet)', async () => {
    const { dataSource } = await freshDatabase();
    const stored = await seed(dataSource, cryptoWith(dataSource, OLD), { acme: 2 });
    await dataSource.query(`DROP TABLE connections CASCADE`);
    await dataSource.query(`DROP TABLE webhook_endpoints CASCADE`);
    const rotation = new KeyRotation(dataSource, cryptoWith(dataSource, NEW, OLD));
    await rotation.rewrapAll(100);
    await expect(rotation.reencryptAll(100)).resolves.toMatchObject({ rotated: 1, rows: 2 });
    await expectAllReadable(dataSource, stored, NEW);
  });
});

describe('key rotation under a running service', () => {
  it('keeps API writes made during the rotation, and a service with only the new key then uses every credential', async () => {
    const { url, dataSource } = await freshDatabase();
    const seen: (string | undefined)[] = [];
    const upstream = createServer((req, res) => {
      seen.push(req.headers['x-api-key'] as string | undefined);
      res.end('{}');
    });
    await new Promise<void>((done) => upstream.listen(0, '127.0.0.1', done));
    const baseUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const admin = bearer(mintToken({ roles: ['platform-admin'] }));
    const apiKey = (i: number, version: number) => `key-${i}-v${version}`;
    try {
      const before = await startTestApp({ DATABASE_URL: url, ENCRYPTION_KEYS: OLD });
      expect((await before.app.inject({ method: 'POST', url: '/v1/tenants', headers: admin, payload: { id: 'acme', displayName: 'Acme' } })).statusCode).toBe(201);
      for (let i = 0; i < 8; i += 1) {
        const created = await before.app.inject({
          method: 'POST',
          url: '/v1/tenants/acme/integrations',
          headers: admin,
          payload: { id: `api-${i}`, displayName: `API ${i}`, connector: 'http', parameters: { baseUrl }, authMethod: 'API_KEY', credentials: { apiKey: apiKey(i, 1) } },
        });
        expect(created.statusCode).toBe(201);
      }
      await before.app.close();

      // The service rolled with the new key first; the rotation runs while it takes writes.
      const during = await startTestApp({ DATABASE_URL: url, ENCRYPTION_KEYS: `${NEW},${OLD}` });
      const rotation = new KeyRotation(dataSource, cryptoWith(dataSource, NEW, OLD));
      await rotation.rewrapAll(1);
      const patches = Array.from({ length: 8 }, (_, i) => i)
        .filter((i) => i % 2 === 0)
        .map(async (i) => {
          const patched = await during.app.inject({ method: 'PATCH', url: `/v1/tenants/acme/integrations/api-${i}`, headers: admin, payload: { credentials: { apiKey: apiKey(i, 2) } } });
          expect(patched.statusCode).toBe(200);
        });
      await Promise.all([rotation.reencryptAll(1), ...patches]);
      await during.app.close();

      const after = await startTestApp({ DATABASE_URL: url, ENCRYPTION_KEYS: NEW });
      for (let i = 0; i < 8; i += 1) {
        const verified = await after.app.inject({ method: 'POST', url: `/v1/tenants/acme/integrations/api-${i}:verifyConfig`, headers: admin });
        expect(verified.json()).toMatchObject({ status: 'healthy', error: null });
        expect(seen.pop()).toBe(apiKey(i, i % 2 === 0 ? 2 : 1));
      }
      const audit = await after.app.inject({ method: 'GET', url: '/v1/tenants/acme/audit-events', headers: admin });
      expect(audit.json().auditEvents.map((e: { action: string }) => e.action)).toContain('key.rotated');
      await after.app.close();
    } finally {
      upstream.close();
    }
  });
});

describe('command-line scripts', () => {
  const baseEnv = (): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'test' };
    for (const name of ['DATABASE_URL', 'ENCRYPTION_KEYS', 'AUTH_JWT_SECRET', 'AUTH_JWKS_URL', 'AUTH_ISSUER', 'AUTH_AUDIENCE', 'AUTH_TENANT_CLAIM', 'AUTH_ROLES_CLAIM']) {
      delete env[name];
    }
    return env;
  };
  const run = (script: string, args: string[], env: NodeJS.ProcessEnv): SpawnSyncReturns<string> =>
    spawnSync(process.execPath, [TS_NODE, '--transpile-only', `scripts/${script}.ts`, ...args], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
  const lastLine = (out: string) => out.trimEnd().split('\n').pop() ?? '';

  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'switchboard-cli-'));
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('token prints, alone on its last line, a JWT signed with AUTH_JWT_SECRET carrying the configured claims', () => {
    const secret = 'cli-test-secret-that-is-long-enough-0123456789';
    const env = { ...baseEnv(), AUTH_JWT_SECRET: secret, AUTH_ISSUER: 'https://issuer.test', AUTH_AUDIENCE: 'switchboard', AUTH_TENANT_CLAIM: 'org', AUTH_ROLES_CLAIM: 'groups' };
    const result = run('token', ['--tenant', 'acme', '--roles', 'admin,editor', '--sub', 'alice', '--ttl', '5m'], env);
    expect(result.status).toBe(0);
    const claims = verify(lastLine(result.stdout), secret, { algorithms: ['HS256'], issuer: 'https://issuer.test', audience: 'switchboard' }) as JwtPayload;
    expect(claims).toMatchObject({ sub: 'alice', org: 'acme', groups: ['admin', 'editor'] });
    expect(claims.exp! - claims.iat!).toBe(300);
    expect(result.stdout + result.stderr).not.toContain(secret);
  });

  it('token falls back to the development secret under DATA_DIR, and needs no tenant for platform-admin', () => {
    const result = run('token', ['--roles', 'platform-admin'], { ...baseEnv(), DATA_DIR: dataDir });
    expect(result.status).toBe(0);
    const { jwtSecret } = JSON.parse(readFileSync(join(dataDir, 'dev-secrets.json'), 'utf8')) as { jwtSecret: string };
    const claims = verify(lastLine(result.stdout), jwtSecret, { algorithms: ['HS256'] }) as JwtPayload;
    expect(claims.roles).toEqual(['platform-admin']);
    expect(claims.tenant_id).toBeUndefined();
  });

  it.each([[['--roles', 'admin']], [['--tenant', 'acme']], [['--tenant', 'acme', '--roles', 'admin', '--ttl', 'soon']], [['--bogus']]])(
    'token rejects %j with usage and exit code 2',
    (args) => {
      const result = run('token', args, { ...baseEnv(), DATA_DIR: dataDir });
      expect(result.status).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain('usage:');
    },
  );

  it('keys:generate prints one ENCRYPTION_KEYS entry that parseKeyring accepts', () => {
    const result = run('keys-generate', [], baseEnv());
    expect(result.status).toBe(0);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    expect(parseKeyring(result.stdout.trim())).toHaveLength(1);
  });

  it('keys:rotate rotates a live database, prints no key, and resumes after being killed', async () => {
    const { url, dataSource } = await freshDatabase();
    const stored = await seed(dataSource, cryptoWith(dataSource, OLD), { acme: 25, globex: 25 });
    const env = { ...baseEnv(), DATABASE_URL: url, ENCRYPTION_KEYS: `${NEW},${OLD}` };

    // Killed as soon as re-encryption is under way (it may also have finished: then the re-run simply rotates again).
    const child = spawn(process.execPath, [TS_NODE, '--transpile-only', 'scripts/keys-rotate.ts', '--data', '--batch', '1'], { cwd: ROOT, env });
    let output = '';
    await new Promise<void>((done) => {
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (/reencrypt: tenant acme: integrations: [1-9]/.test(output)) child.kill('SIGKILL');
      });
      child.on('exit', () => done());
    });

    const result = run('keys-rotate', ['--data', '--batch', '7'], env);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('re-wrapped');
    for (const entry of [OLD, NEW]) {
      const material = entry.split(':')[1];
      expect(output + result.stdout + result.stderr).not.toContain(material);
    }
    await expectAllReadable(dataSource, stored, NEW);

    const bad = run('keys-rotate', ['--batch', '0'], env);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('usage:');
  });
});
