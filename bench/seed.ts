/*
 * Seeds the dedicated benchmark database. Secrets go through the real
 * CryptoService and PgTenantKeyStore, so the service decrypts them exactly as
 * it decrypts its own; rows are bulk-inserted with one `INSERT … SELECT FROM
 * unnest(…)` per batch, which is as fast as COPY for this shape and needs no
 * extra package.
 *
 * Standalone: `ts-node --transpile-only bench/seed.ts [--scale N] [--smoke]`
 * (prints the ENCRYPTION_KEYS it used; `npm run bench -- --reuse` reads them
 * back from the database's bench_meta table).
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { CryptoService } from '../src/common/crypto/crypto.service';
import { generateKeyEntry, parseKeyring } from '../src/common/crypto/keyring';
import { PgTenantKeyStore } from '../src/common/crypto/pg-tenant-key.store';
import type { TenantKeyStore, WrappedDataKey } from '../src/common/crypto/tenant-key.store';
import { createDataSource, runMigrationsExclusively } from '../src/database/data-source';

export const BENCH_DATABASE = 'switchboard_bench';
/** The smoke run has its own database, so CI's smoke never drops a full run's data. */
export const SMOKE_DATABASE = 'switchboard_bench_smoke';
export const BIG_TENANT = 'tbig';
/** The one integration of every ordinary tenant that :verifyConfig targets; its baseUrl is pointed at the fake upstream before each run. */
export const VERIFY_TARGET_ID = 'int-000';

export interface SeedShape {
  tenants: number;
  integrationsPerTenant: number;
  /** Integrations of the one large tenant whose deep pages the list scenario reads. */
  bigTenantIntegrations: number;
  /** Connections per tenant, on its first integration. */
  connectionsPerTenant: number;
}

export interface SeedInfo extends SeedShape {
  encryptionKeys: string;
  seededAt: string;
  seconds: number;
}

export function shapeFor(scale: number, smoke: boolean): SeedShape {
  if (smoke) return { tenants: 5, integrationsPerTenant: 10, bigTenantIntegrations: 200, connectionsPerTenant: 2 };
  return { tenants: 1000 * scale, integrationsPerTenant: 100, bigTenantIntegrations: 10_000 * scale, connectionsPerTenant: 2 };
}

export function tenantId(index: number): string {
  return `t${String(index).padStart(5, '0')}`;
}

export function integrationId(index: number): string {
  return `int-${String(index).padStart(3, '0')}`;
}

export function bigIntegrationId(index: number): string {
  return `big-${String(index).padStart(6, '0')}`;
}

/** postgresql://…/<name> on the same server as `serverUrl`. */
export function databaseUrl(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * The real PgTenantKeyStore, with the tenant's active key remembered after the
 * first lookup: CryptoService asks the store for it on every encrypt, which
 * would make seeding a million rows a million round trips. Keys are still
 * created, wrapped and stored by the real code.
 */
class RememberingKeyStore implements TenantKeyStore {
  private readonly active = new Map<string, WrappedDataKey>();
  constructor(private readonly inner: TenantKeyStore) {}

  async findActive(tenantId: string): Promise<WrappedDataKey | null> {
    const known = this.active.get(tenantId);
    if (known) return known;
    const found = await this.inner.findActive(tenantId);
    if (found) this.active.set(tenantId, found);
    return found;
  }
  findById(tenantId: string, id: string) {
    return this.inner.findById(tenantId, id);
  }
  async insertIfNoActive(key: WrappedDataKey) {
    const winner = await this.inner.insertIfNoActive(key);
    this.active.set(winner.tenantId, winner);
    return winner;
  }
  rewrap(tenantId: string, id: string, expectedMasterKid: string, masterKid: string, wrapped: string) {
    return this.inner.rewrap(tenantId, id, expectedMasterKid, masterKid, wrapped);
  }
  replaceActive(tenantId: string, next: WrappedDataKey) {
    this.active.delete(tenantId);
    return this.inner.replaceActive(tenantId, next);
  }
  listWrappedByOtherThan(kid: string, limit: number) {
    return this.inner.listWrappedByOtherThan(kid, limit);
  }
}

interface IntegrationSeedRow {
  tenantId: string;
  id: string;
  displayName: string;
  parameters: string;
  secrets: string;
  tags: string;
  etag: string;
}

const INTEGRATION_BATCH = 5000;

async function insertIntegrations(client: Client, rows: IntegrationSeedRow[]): Promise<void> {
  if (rows.length === 0) return;
  await client.query(
    `INSERT INTO integrations (tenant_id, id, display_name, description, connector, type, parameters, auth_method, secrets, tags, etag)
     SELECT t, i, d, 'Seeded by npm run bench', 'http', 'SYSTEM', p, 'API_KEY', s, string_to_array(g, ','), e
       FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[], $6::text[], $7::text[]) AS x(t, i, d, p, s, g, e)`,
    [
      rows.map((r) => r.tenantId),
      rows.map((r) => r.id),
      rows.map((r) => r.displayName),
      rows.map((r) => r.parameters),
      rows.map((r) => r.secrets),
      rows.map((r) => r.tags),
      rows.map((r) => r.etag),
    ],
  );
}

function etag(): string {
  return randomBytes(12).toString('base64url');
}

/** Drops and recreates the bench database, migrates it and fills it. Returns what it made, including the master key it used. */
export async function seedDatabase(serverUrl: string, name: string, shape: SeedShape, log: (line: string) => void): Promise<SeedInfo> {
  const started = performance.now();
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(serverUrl, name);

  const dataSource = createDataSource(url);
  await dataSource.initialize();
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await runMigrationsExclusively(dataSource);
    const encryptionKeys = generateKeyEntry('bench');
    const crypto = new CryptoService(parseKeyring(encryptionKeys), new RememberingKeyStore(new PgTenantKeyStore(dataSource)));
    // Seeding has no concurrent reader: skip the WAL flush per statement.
    await client.query(`SET synchronous_commit = off`);

    const tenantIds = Array.from({ length: shape.tenants }, (_, i) => tenantId(i));
    const allTenants = [...tenantIds, BIG_TENANT];
    for (let i = 0; i < allTenants.length; i += 5000) {
      const ids = allTenants.slice(i, i + 5000);
      await client.query(
        `INSERT INTO tenants (id, display_name, description, metadata, etag)
         SELECT id, 'Bench tenant ' || id, 'Seeded by npm run bench', '{"seeded": true}', e FROM unnest($1::text[], $2::text[]) AS x(id, e)`,
        [ids, ids.map(() => etag())],
      );
    }
    log(`seed: ${allTenants.length} tenants`);

    const seal = async (tenant: string, resourceType: string, resourceId: string, groups: Record<string, Record<string, string>>): Promise<string> => {
      const out: Record<string, Record<string, string>> = {};
      for (const [group, values] of Object.entries(groups)) {
        out[group] = {};
        for (const [key, value] of Object.entries(values)) {
          out[group][key] = await crypto.encrypt({ tenantId: tenant, resourceType, resourceId, field: `${group}.${key}` }, value);
        }
      }
      return JSON.stringify(out);
    };
    const integrationRow = async (tenant: string, id: string, n: number): Promise<IntegrationSeedRow> => ({
      tenantId: tenant,
      id,
      displayName: `Integration ${id} of ${tenant}`,
      parameters: JSON.stringify({ baseUrl: 'https://api.example.test', testPath: '/health', headerName: 'X-API-Key' }),
      secrets: await seal(tenant, 'integration', id, {
        credentials: { apiKey: `sk_bench_${randomBytes(12).toString('hex')}` },
        headers: { 'X-Extra-Auth': `xa_${randomBytes(8).toString('hex')}` },
      }),
      tags: `bench,group-${n % 10}`,
      etag: etag(),
    });

    let batch: IntegrationSeedRow[] = [];
    let inserted = 0;
    const flush = async () => {
      await insertIntegrations(client, batch);
      inserted += batch.length;
      batch = [];
    };
    const progressEvery = Math.max(1, Math.floor(shape.tenants / 10));
    for (const [t, tenant] of tenantIds.entries()) {
      for (let i = 0; i < shape.integrationsPerTenant; i += 1) {
        batch.push(await integrationRow(tenant, integrationId(i), i));
        if (batch.length >= INTEGRATION_BATCH) await flush();
      }
      if ((t + 1) % progressEvery === 0) log(`seed: integrations of ${t + 1}/${shape.tenants} tenants`);
    }
    for (let i = 0; i < shape.bigTenantIntegrations; i += 1) {
      batch.push(await integrationRow(BIG_TENANT, bigIntegrationId(i), i));
      if (batch.length >= INTEGRATION_BATCH) await flush();
    }
    await flush();
    log(`seed: ${inserted} integrations`);

    // A few connections: an organizational and a personal one on each tenant's first integration.
    let connections = 0;
    const connectionRows: unknown[][] = [[], [], [], [], [], [], [], []];
    for (const tenant of tenantIds) {
      for (let c = 0; c < shape.connectionsPerTenant; c += 1) {
        const id = `conn_${randomBytes(12).toString('hex')}`;
        const organizational = c % 2 === 0;
        const values = [
          tenant,
          id,
          VERIFY_TARGET_ID,
          organizational ? 'bench-admin' : `bench-user-${c}`,
          organizational ? `Shared account ${c}` : `Personal account ${c}`,
          organizational ? 'organizational' : 'personal',
          await seal(tenant, 'connection', id, { credentials: { apiKey: `sk_conn_${randomBytes(12).toString('hex')}` } }),
          etag(),
        ];
        values.forEach((v, k) => connectionRows[k].push(v));
        connections += 1;
      }
    }
    if (connections > 0) {
      await client.query(
        `INSERT INTO connections (tenant_id, id, integration_id, owner_id, name, access_scope, auth_method, secrets, etag)
         SELECT t, i, ii, o, n, a, 'API_KEY', s, e FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::text[]) AS x(t, i, ii, o, n, a, s, e)`,
        connectionRows,
      );
    }
    log(`seed: ${connections} connections`);

    const seconds = (performance.now() - started) / 1000;
    const info: SeedInfo = { ...shape, encryptionKeys, seededAt: new Date().toISOString(), seconds };
    await client.query(`CREATE TABLE bench_meta (key text PRIMARY KEY, value jsonb NOT NULL)`);
    // The master key of throw-away data, kept beside it so --reuse can decrypt it. Never do this with real data.
    await client.query(`INSERT INTO bench_meta (key, value) VALUES ('seed', $1)`, [JSON.stringify(info)]);
    await client.query(`VACUUM ANALYZE`);
    log(`seed: done in ${seconds.toFixed(1)} s (vacuum analyze included)`);
    return info;
  } finally {
    await client.end();
    await dataSource.destroy();
  }
}

/** What an earlier seed left, or null when the database or its bench_meta is missing. */
export async function readSeedInfo(serverUrl: string, name: string): Promise<SeedInfo | null> {
  const client = new Client({ connectionString: databaseUrl(serverUrl, name) });
  try {
    await client.connect();
  } catch {
    return null;
  }
  try {
    const { rows } = await client.query<{ value: SeedInfo }>(`SELECT value FROM bench_meta WHERE key = 'seed'`);
    return rows[0]?.value ?? null;
  } catch {
    return null;
  } finally {
    await client.end();
  }
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const scaleAt = args.indexOf('--scale');
  const scale = scaleAt >= 0 ? Number(args[scaleAt + 1]) : 1;
  const serverUrl = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  const smoke = args.includes('--smoke');
  seedDatabase(serverUrl, smoke ? SMOKE_DATABASE : BENCH_DATABASE, shapeFor(scale, smoke), (line) => process.stderr.write(`${line}\n`))
    .then((info) => process.stdout.write(`ENCRYPTION_KEYS=${info.encryptionKeys}\n`))
    .catch((error: unknown) => {
      process.stderr.write(`seed failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    });
}
