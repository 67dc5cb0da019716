import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { startTestApp, uniqueId } from '../support/test-app';
import { bearer, mintToken } from '../support/tokens';

type Reply = Awaited<ReturnType<NestFastifyApplication['inject']>>;
interface FieldError {
  field: string;
  message: string;
}

const platformAdmin = (sub = 'root') => bearer(mintToken({ sub, roles: ['platform-admin'] }));
const member = (tenant: string, role: string, sub = 'alice') => bearer(mintToken({ sub, tenant, roles: [role] }));

function expectProblem(res: Reply, status: number): Record<string, unknown> {
  expect(res.statusCode).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json();
  expect(body).toMatchObject({ status, type: expect.any(String), title: expect.any(String), detail: expect.any(String), instance: expect.any(String) });
  expect(body.requestId).toBe(res.headers['x-request-id']);
  return body;
}

function expectFieldError(res: Reply, field: string): void {
  const body = expectProblem(res, 400);
  expect((body.errors as FieldError[]).map((e) => e.field)).toContain(field);
}

describe('tenants', () => {
  let app: NestFastifyApplication;
  const create = (payload: unknown, headers: Record<string, string> = platformAdmin()) => app.inject({ method: 'POST', url: '/v1/tenants', headers, payload: payload as object });
  const read = (id: string, headers: Record<string, string> = platformAdmin()) => app.inject({ method: 'GET', url: `/v1/tenants/${id}`, headers });
  const patch = (id: string, payload: object, headers: Record<string, string> = platformAdmin()) => app.inject({ method: 'PATCH', url: `/v1/tenants/${id}`, headers, payload });
  const remove = (id: string, headers: Record<string, string> = platformAdmin()) => app.inject({ method: 'DELETE', url: `/v1/tenants/${id}`, headers });
  const count = async (id: string) => ((await read(id)).statusCode === 200 ? 1 : 0);

  beforeAll(async () => {
    ({ app } = await startTestApp());
  });
  afterAll(async () => {
    await app.close();
  });

  describe('create and read', () => {
    it('creates a tenant with every field, answers 201 with an ETag header equal to the quoted etag', async () => {
      const id = uniqueId('full');
      const res = await create({ id, displayName: 'Full Corp', description: 'All the fields', metadata: { plan: 'gold', seats: 10, nested: { a: [1, 2] } } });
      expect(res.statusCode).toBe(201);
      const body = res.json();
      expect(body).toEqual({
        id,
        displayName: 'Full Corp',
        description: 'All the fields',
        metadata: { plan: 'gold', seats: 10, nested: { a: [1, 2] } },
        etag: expect.any(String),
        createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        modifiedAt: body.createdAt,
      });
      expect(res.headers.etag).toBe(`"${body.etag}"`);
      const again = await read(id);
      expect(again.json()).toEqual(body);
      expect(again.headers.etag).toBe(`"${body.etag}"`);
    });

    it('defaults description to "" and metadata to {}', async () => {
      const id = uniqueId('min');
      const res = await create({ id, displayName: 'Minimal' });
      expect(res.statusCode).toBe(201);
      expect(res.json()).toMatchObject({ description: '', metadata: {} });
    });

    it('accepts the boundary lengths (id 64, displayName 1 and 100, description 500)', async () => {
      const id = `${uniqueId('b')}-`.padEnd(64, 'x');
      expect((await create({ id, displayName: 'x'.repeat(100), description: 'd'.repeat(500) })).statusCode).toBe(201);
      expect((await create({ id: uniqueId('one'), displayName: 'y' })).statusCode).toBe(201);
    });

    it('answers 409 for a duplicate id and keeps the first tenant', async () => {
      const id = uniqueId('dup');
      expect((await create({ id, displayName: 'First' })).statusCode).toBe(201);
      expectProblem(await create({ id, displayName: 'Second' }), 409);
      expect((await read(id)).json().displayName).toBe('First');
    });

    it('answers 404 problem for a tenant that does not exist', async () => {
      const body = expectProblem(await read(uniqueId('missing')), 404);
      expect(body.type).toMatch(/not-found$/);
    });

    it('answers 404 to a member whose token names a tenant that does not exist', async () => {
      const id = uniqueId('ghost');
      expectProblem(await read(id, member(id, 'admin')), 404);
    });
  });

  describe('validation (400 with errors[] naming the field)', () => {
    it.each([
      ['id with a space', { id: 'has space', displayName: 'x' }, 'id'],
      ['id with a slash', { id: 'a/b', displayName: 'x' }, 'id'],
      ['id of 65 characters', { id: 'a'.repeat(65), displayName: 'x' }, 'id'],
      ['empty id', { id: '', displayName: 'x' }, 'id'],
      ['missing id', { displayName: 'x' }, 'id'],
      ['empty displayName', { id: 'ok-id', displayName: '' }, 'displayName'],
      ['displayName of 101 characters', { id: 'ok-id', displayName: 'x'.repeat(101) }, 'displayName'],
      ['missing displayName', { id: 'ok-id' }, 'displayName'],
      ['description of 501 characters', { id: 'ok-id', displayName: 'x', description: 'd'.repeat(501) }, 'description'],
      ['unknown field', { id: 'ok-id', displayName: 'x', color: 'blue' }, 'color'],
      ['numeric id', { id: 42, displayName: 'x' }, 'id'],
      ['numeric displayName', { id: 'ok-id', displayName: 5 }, 'displayName'],
      ['boolean description', { id: 'ok-id', displayName: 'x', description: true }, 'description'],
      ['metadata as an array', { id: 'ok-id', displayName: 'x', metadata: [1, 2] }, 'metadata'],
      ['metadata as a string', { id: 'ok-id', displayName: 'x', metadata: 'plan=gold' }, 'metadata'],
    ])('rejects a create with %s', async (_, payload, field) => {
      expectFieldError(await create(payload), field);
    });

    it('names an unknown field as unknown and does not echo submitted values', async () => {
      const res = await create({ id: 'ok-id', displayName: 'x', secretish: 'do-not-echo-me-123' });
      const body = expectProblem(res, 400);
      expect(body.errors).toContainEqual({ field: 'secretish', message: 'is not a known field' });
      expect(res.body).not.toContain('do-not-echo-me-123');
    });

    it.each([
      ['displayName empty', { displayName: '' }, 'displayName'],
      ['displayName of 101 characters', { displayName: 'x'.repeat(101) }, 'displayName'],
      ['displayName null', { displayName: null }, 'displayName'],
      ['description of 501 characters', { description: 'd'.repeat(501) }, 'description'],
      ['metadata as an array', { metadata: ['a'] }, 'metadata'],
      ['id (not patchable)', { id: 'other' }, 'id'],
    ])('rejects a patch with %s', async (_, payload, field) => {
      const id = uniqueId('pv');
      expect((await create({ id, displayName: 'Patch me' })).statusCode).toBe(201);
      expectFieldError(await patch(id, payload), field);
      expect((await read(id)).json().displayName).toBe('Patch me');
    });

    it('rejects an invalid tenant id in the path with 400', async () => {
      expectFieldError(await read('bad%20id'), 'tenant');
    });
  });

  describe('list', () => {
    it('pages oldest first with pageSize 2 until nextPageToken is null, stable across pages', async () => {
      const prefix = uniqueId('page');
      const mine: string[] = [];
      for (let i = 0; i < 5; i++) {
        const id = `${prefix}-${i}`;
        expect((await create({ id, displayName: `Page ${i}` })).statusCode).toBe(201);
        mine.push(id);
      }
      const seen: string[] = [];
      let token: string | null = null;
      let pages = 0;
      do {
        const url: string = `/v1/tenants?pageSize=2${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`;
        const res = await app.inject({ method: 'GET', url, headers: platformAdmin() });
        expect(res.statusCode).toBe(200);
        const body = res.json() as { tenants: Array<{ id: string; etag: string }>; nextPageToken: string | null };
        expect(Object.keys(body).sort()).toEqual(['nextPageToken', 'tenants']);
        expect(body.tenants.length).toBeLessThanOrEqual(2);
        if (body.nextPageToken !== null) expect(body.tenants).toHaveLength(2);
        seen.push(...body.tenants.map((t) => t.id));
        token = body.nextPageToken;
        pages += 1;
      } while (token !== null && pages < 10_000);
      expect(token).toBeNull();
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen.filter((id) => id.startsWith(`${prefix}-`))).toEqual(mine);
    });

    it('answers a first page of at most 50 by default', async () => {
      const res = await app.inject({ method: 'GET', url: '/v1/tenants', headers: platformAdmin() });
      expect(res.statusCode).toBe(200);
      expect(res.json().tenants.length).toBeLessThanOrEqual(50);
    });

    it.each(['0', '201', 'abc', '-1', '1.5'])('rejects pageSize=%s with 400 naming pageSize', async (size) => {
      expectFieldError(await app.inject({ method: 'GET', url: `/v1/tenants?pageSize=${size}`, headers: platformAdmin() }), 'pageSize');
    });

    it('accepts pageSize 1 and 200', async () => {
      for (const size of [1, 200]) {
        const res = await app.inject({ method: 'GET', url: `/v1/tenants?pageSize=${size}`, headers: platformAdmin() });
        expect(res.statusCode).toBe(200);
        expect(res.json().tenants.length).toBeLessThanOrEqual(size);
      }
    });

    it('rejects a forged or tampered pageToken with 400', async () => {
      await create({ id: uniqueId('tok-a'), displayName: 'a' });
      await create({ id: uniqueId('tok-b'), displayName: 'b' });
      const first = await app.inject({ method: 'GET', url: '/v1/tenants?pageSize=1', headers: platformAdmin() });
      const real = first.json().nextPageToken as string;
      expect(typeof real).toBe('string');
      const [payload, signature] = real.split('.');
      const cursor = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { s: string };
      const tampered = `${Buffer.from(JSON.stringify({ ...cursor, s: '0' })).toString('base64url')}.${signature}`;
      const forgedSignature = `${payload}.${'A'.repeat(43)}`;
      for (const token of ['garbage', 'a.b', tampered, forgedSignature, `${real}.extra`]) {
        expectFieldError(await app.inject({ method: 'GET', url: `/v1/tenants?pageToken=${encodeURIComponent(token)}`, headers: platformAdmin() }), 'pageToken');
      }
      expect((await app.inject({ method: 'GET', url: `/v1/tenants?pageToken=${encodeURIComponent(real)}`, headers: platformAdmin() })).statusCode).toBe(200);
    });

    it('rejects a pageToken issued for another list (a tenant audit log) with 400', async () => {
      const id = uniqueId('foreign');
      await create({ id, displayName: 'Foreign' });
      await patch(id, { description: 'changed' });
      const audit = await app.inject({ method: 'GET', url: `/v1/tenants/${id}/audit-events?pageSize=1`, headers: platformAdmin() });
      expect(audit.statusCode).toBe(200);
      const foreign = audit.json().nextPageToken as string;
      expect(typeof foreign).toBe('string');
      expectFieldError(await app.inject({ method: 'GET', url: `/v1/tenants?pageToken=${encodeURIComponent(foreign)}`, headers: platformAdmin() }), 'pageToken');
    });

    it('rejects unknown query parameters with 400', async () => {
      expectFieldError(await app.inject({ method: 'GET', url: '/v1/tenants?orderBy=id', headers: platformAdmin() }), 'orderBy');
    });
  });

  describe('update', () => {
    it('merges metadata per key (null removes), keeps omitted fields and changes the etag', async () => {
      const id = uniqueId('merge');
      const created = (await create({ id, displayName: 'Merge', description: 'keep me', metadata: { a: 1, b: 2, c: { deep: true } } })).json();
      const res = await patch(id, { metadata: { b: null, d: 'new', c: { other: 1 } } });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body).toMatchObject({ id, displayName: 'Merge', description: 'keep me', metadata: { a: 1, c: { other: 1 }, d: 'new' }, createdAt: created.createdAt });
      expect(body.metadata).not.toHaveProperty('b');
      expect(body.etag).not.toBe(created.etag);
      expect(res.headers.etag).toBe(`"${body.etag}"`);
      expect(Date.parse(body.modifiedAt)).toBeGreaterThanOrEqual(Date.parse(created.modifiedAt));
      expect((await read(id)).json()).toEqual(body);
    });

    it('changes the etag on every write, even one that changes nothing', async () => {
      const id = uniqueId('etag');
      const etags = [(await create({ id, displayName: 'E' })).json().etag];
      for (let i = 0; i < 3; i++) etags.push((await patch(id, {})).json().etag);
      expect(new Set(etags).size).toBe(4);
    });

    it('clears description and metadata when they are sent as null', async () => {
      const id = uniqueId('clear');
      await create({ id, displayName: 'Clear', description: 'text', metadata: { a: 1 } });
      const res = await patch(id, { description: null, metadata: null });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ displayName: 'Clear', description: '', metadata: {} });
    });

    it('does not let a __proto__ metadata key pollute anything', async () => {
      const id = uniqueId('proto');
      await create({ id, displayName: 'Proto' });
      const res = await app.inject({
        method: 'PATCH',
        url: `/v1/tenants/${id}`,
        headers: { ...platformAdmin(), 'content-type': 'application/json' },
        payload: '{"metadata":{"constructor":{"prototype":{"polluted":true}}}}',
      });
      expect([200, 400]).toContain(res.statusCode);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('answers 404 for a tenant that does not exist', async () => {
      expectProblem(await patch(uniqueId('nope'), { displayName: 'x' }), 404);
    });
  });

  describe('If-Match', () => {
    it('refuses a PATCH whose If-Match does not match with 412 and changes nothing', async () => {
      const id = uniqueId('im');
      const created = (await create({ id, displayName: 'Before' })).json();
      const res = await patch(id, { displayName: 'After' }, { ...platformAdmin(), 'if-match': '"not-the-etag"' });
      const body = expectProblem(res, 412);
      expect(body.type).toMatch(/precondition-failed$/);
      expect((await read(id)).json()).toMatchObject({ displayName: 'Before', etag: created.etag });
    });

    it('accepts the current etag quoted, unquoted, or *', async () => {
      const id = uniqueId('im-ok');
      let etag = (await create({ id, displayName: 'v0' })).json().etag as string;
      for (const [i, header] of [`"${etag}"`, null, '*'].entries()) {
        const value = header ?? etag;
        const res = await patch(id, { displayName: `v${i + 1}` }, { ...platformAdmin(), 'if-match': value });
        expect(res.statusCode).toBe(200);
        const next = res.json().etag as string;
        expect(next).not.toBe(etag);
        etag = next;
      }
    });

    it('refuses a stale etag after another write (lost update prevented)', async () => {
      const id = uniqueId('stale');
      const stale = (await create({ id, displayName: 'v0' })).json().etag;
      expect((await patch(id, { displayName: 'v1' })).statusCode).toBe(200);
      expectProblem(await patch(id, { displayName: 'v2' }, { ...platformAdmin(), 'if-match': `"${stale}"` }), 412);
      expectProblem(await remove(id, { ...platformAdmin(), 'if-match': stale }), 412);
      expect((await read(id)).json().displayName).toBe('v1');
    });

    it('answers 404, not 412, for If-Match on a tenant that does not exist', async () => {
      const id = uniqueId('im-missing');
      expectProblem(await patch(id, { displayName: 'x' }, { ...platformAdmin(), 'if-match': '"whatever"' }), 404);
      expectProblem(await remove(id, { ...platformAdmin(), 'if-match': '"whatever"' }), 404);
    });
  });

  describe('delete', () => {
    it('answers 204, then 404, and the id can be used again with a new etag', async () => {
      const id = uniqueId('del');
      const first = (await create({ id, displayName: 'First life' })).json();
      const res = await remove(id, { ...platformAdmin(), 'if-match': `"${first.etag}"` });
      expect(res.statusCode).toBe(204);
      expect(res.body).toBe('');
      expectProblem(await read(id), 404);
      expectProblem(await remove(id), 404);
      const again = await create({ id, displayName: 'Second life' });
      expect(again.statusCode).toBe(201);
      expect(again.json().etag).not.toBe(first.etag);
      expect((await read(id)).json().displayName).toBe('Second life');
    });
  });

  describe('Idempotency-Key', () => {
    it('replays the first response for the same key and body (same etag, one tenant)', async () => {
      const id = uniqueId('idem');
      const key = uniqueId('key');
      const headers = { ...platformAdmin('idem-user'), 'idempotency-key': key };
      const first = await create({ id, displayName: 'Once', metadata: { a: 1, b: 2 } }, headers);
      expect(first.statusCode).toBe(201);
      // Same body with keys in another order is the same request.
      const second = await create({ metadata: { b: 2, a: 1 }, displayName: 'Once', id }, headers);
      expect(second.statusCode).toBe(201);
      expect(second.json()).toEqual(first.json());
      expect(second.headers.etag).toBe(first.headers.etag);
      expect(second.headers['idempotency-replayed']).toBe('true');
      // Without the key the same body really executes again and conflicts.
      expectProblem(await create({ id, displayName: 'Once', metadata: { a: 1, b: 2 } }, platformAdmin('idem-user')), 409);
      expect(await count(id)).toBe(1);
    });

    it('answers 422 for the same key with a different body, and creates nothing', async () => {
      const key = uniqueId('key');
      const headers = { ...platformAdmin('idem-user'), 'idempotency-key': key };
      const id = uniqueId('idem422');
      expect((await create({ id, displayName: 'A' }, headers)).statusCode).toBe(201);
      const other = uniqueId('idem422b');
      const res = await create({ id: other, displayName: 'B' }, headers);
      expectProblem(res, 422);
      expect(await count(other)).toBe(0);
    });

    it('never answers 500 for the same key sent concurrently: one creates, the other is 409 or a replay', async () => {
      const id = uniqueId('idem-race');
      const headers = { ...platformAdmin('racer'), 'idempotency-key': uniqueId('key') };
      const results = await Promise.all([0, 1, 2, 3].map(() => create({ id, displayName: 'Race' }, headers)));
      const created = results.filter((r) => r.statusCode === 201);
      expect(created.length).toBeGreaterThanOrEqual(1);
      for (const r of results) {
        expect([201, 409]).toContain(r.statusCode);
        if (r.statusCode === 409) expect(r.json().type).toMatch(/idempotency-in-flight$/);
      }
      expect(new Set(created.map((r) => r.json().etag)).size).toBe(1);
      expect(await count(id)).toBe(1);
    });

    it('keeps keys per caller: another sub with the same key executes its own request', async () => {
      const key = uniqueId('shared-key');
      const id = uniqueId('idem-a');
      expect((await create({ id, displayName: 'A' }, { ...platformAdmin('user-a'), 'idempotency-key': key })).statusCode).toBe(201);
      // Same key and body from another caller is not a replay: it runs and meets the existing id.
      expectProblem(await create({ id, displayName: 'A' }, { ...platformAdmin('user-b'), 'idempotency-key': key }), 409);
      // A failed request does not hold the key: the same caller may use it for another body.
      const other = uniqueId('idem-b');
      const res = await create({ id: other, displayName: 'B' }, { ...platformAdmin('user-b'), 'idempotency-key': key });
      expect(res.statusCode).toBe(201);
      expect(res.headers['idempotency-replayed']).toBeUndefined();
      expect(await count(other)).toBe(1);
    });

    it('rejects an Idempotency-Key that is not 1..255 visible ASCII characters with 400', async () => {
      for (const key of ['has space', 'x'.repeat(256)]) {
        expectFieldError(await create({ id: uniqueId('k'), displayName: 'x' }, { ...platformAdmin(), 'idempotency-key': key }), 'Idempotency-Key');
      }
    });
  });

  describe('concurrency', () => {
    it('creates exactly one of 20 concurrent creates of one id; the rest are 409', async () => {
      const id = uniqueId('race');
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => create({ id, displayName: `Racer ${i}` })));
      const statuses = results.map((r) => r.statusCode).sort();
      expect(statuses.filter((s) => s === 201)).toHaveLength(1);
      expect(statuses.filter((s) => s === 409)).toHaveLength(19);
      const winner = results.find((r) => r.statusCode === 201)!.json();
      expect((await read(id)).json()).toEqual(winner);
    });
  });

  describe('roles and tenancy', () => {
    const tenantA = uniqueId('ten-a');
    const tenantB = uniqueId('ten-b');
    beforeAll(async () => {
      expect((await create({ id: tenantA, displayName: 'A' })).statusCode).toBe(201);
      expect((await create({ id: tenantB, displayName: 'B' })).statusCode).toBe(201);
    });

    it('lets a viewer read its tenant but not change it', async () => {
      expect((await read(tenantA, member(tenantA, 'viewer'))).statusCode).toBe(200);
      expectProblem(await patch(tenantA, { displayName: 'hacked' }, member(tenantA, 'viewer')), 403);
      expect((await read(tenantA)).json().displayName).toBe('A');
    });

    it.each(['viewer', 'editor', 'admin'])('refuses tenant management to a tenant %s (403)', async (role) => {
      const token = member(tenantA, role);
      expectProblem(await create({ id: uniqueId('x'), displayName: 'x' }, token), 403);
      expectProblem(await app.inject({ method: 'GET', url: '/v1/tenants', headers: token }), 403);
      expectProblem(await patch(tenantA, { displayName: 'x' }, token), 403);
      expectProblem(await remove(tenantA, token), 403);
      expect((await read(tenantA)).json().displayName).toBe('A');
    });

    it('refuses a token of tenant B reading tenant A (403)', async () => {
      const body = expectProblem(await read(tenantA, member(tenantB, 'admin')), 403);
      expect(JSON.stringify(body)).not.toContain('"displayName"');
    });

    it('refuses a token with tenant roles but no tenant claim (403)', async () => {
      expectProblem(await read(tenantA, bearer(mintToken({ roles: ['admin'] }))), 403);
    });

    it('lets a platform-admin without a tenant claim read any tenant', async () => {
      expect((await read(tenantA, platformAdmin())).statusCode).toBe(200);
      expect((await read(tenantB, platformAdmin())).statusCode).toBe(200);
    });

    it('answers 404 problem for an unknown route', async () => {
      const body = expectProblem(await app.inject({ method: 'GET', url: '/v1/nothing-here', headers: platformAdmin() }), 404);
      expect(body.instance).toBe('/v1/nothing-here');
    });
  });
});
