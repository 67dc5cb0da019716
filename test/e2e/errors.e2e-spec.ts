import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { startTestApp, uniqueId } from '../support/test-app';
import { bearer, mintToken } from '../support/tokens';

type Reply = Awaited<ReturnType<NestFastifyApplication['inject']>>;

const PROBLEM_FIELDS = ['type', 'title', 'status', 'detail', 'instance', 'requestId'];

/** Every problem: RFC 9457 fields all present, problem+json, the request id, and nothing internal. */
function expectProblem(res: Reply, status: number): Record<string, unknown> {
  expect(res.statusCode).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json();
  for (const field of PROBLEM_FIELDS) expect(body).toHaveProperty(field);
  expect(body).toMatchObject({ status, type: expect.stringMatching(/^https?:\/\//), title: expect.any(String), detail: expect.any(String), instance: expect.any(String) });
  expect(body.requestId).toBe(res.headers['x-request-id']);
  expectNothingInternal(res);
  return body;
}

function expectNothingInternal(res: Reply): void {
  expect(res.body).not.toMatch(/\bat \S+ \(|\bat (async )?[\w.<>]+ |\.ts:\d|\.js:\d|node_modules/);
  expect(res.body).not.toMatch(/SELECT |INSERT INTO|UPDATE \w+ SET|DELETE FROM|QueryFailedError|stack/i);
}

describe('errors are problem details', () => {
  let app: NestFastifyApplication;
  const admin = bearer(mintToken({ roles: ['platform-admin'] }));
  const post = (payload: string, contentType: string | null, headers: Record<string, string> = {}) =>
    app.inject({
      method: 'POST',
      url: '/v1/tenants',
      headers: { ...admin, ...(contentType === null ? {} : { 'content-type': contentType }), ...headers },
      payload,
    });

  beforeAll(async () => {
    ({ app } = await startTestApp());
  });
  afterAll(async () => {
    await app.close();
  });

  describe('malformed bodies', () => {
    it.each([
      ['truncated JSON', '{"id":'],
      ['a trailing comma', '{"id":"a","displayName":"b",}'],
      ['single quotes', "{'id':'a'}"],
      ['bare text', 'hello'],
    ])('answers 400 for %s', async (_, payload) => {
      const body = expectProblem(await post(payload, 'application/json'), 400);
      expect(body.detail).toMatch(/JSON/);
    });

    it('answers 400 for an empty body labelled as JSON', async () => {
      expectProblem(await post('', 'application/json'), 400);
    });

    it('answers 400 for a body that tries prototype poisoning (__proto__)', async () => {
      expectProblem(await post('{"__proto__":{"admin":true},"id":"p","displayName":"p"}', 'application/json'), 400);
    });

    it('answers 400 for a JSON array or scalar where an object is expected', async () => {
      expectProblem(await post('[1,2]', 'application/json'), 400);
      expectProblem(await post('"text"', 'application/json'), 400);
      expectProblem(await post('null', 'application/json'), 400);
    });

    it('accepts JSON with a charset parameter', async () => {
      const res = await post(JSON.stringify({ id: uniqueId('charset'), displayName: 'C' }), 'application/json; charset=utf-8');
      expect(res.statusCode).toBe(201);
    });
  });

  describe('media types', () => {
    it.each(['text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data; boundary=x'])(
      'answers 415 for a body sent as %s and creates nothing',
      async (type) => {
        const id = uniqueId('media');
        const payload = type.startsWith('application/x-www') ? `id=${id}&displayName=x` : JSON.stringify({ id, displayName: 'x' });
        const body = expectProblem(await post(payload, type), 415);
        expect(body.type).toMatch(/unsupported-media-type$/);
        expect((await app.inject({ method: 'GET', url: `/v1/tenants/${id}`, headers: admin })).statusCode).toBe(404);
      },
    );

    it('answers 415 for a body sent without a Content-Type', async () => {
      const id = uniqueId('noct');
      expectProblem(await post(JSON.stringify({ id, displayName: 'x' }), null), 415);
    });
  });

  describe('body size', () => {
    it('answers 413 for a body over 1 MiB', async () => {
      const payload = JSON.stringify({ id: uniqueId('big'), displayName: 'big', description: 'a'.repeat(1024 * 1024) });
      const body = expectProblem(await post(payload, 'application/json'), 413);
      expect(body.type).toMatch(/payload-too-large$/);
    });

    it('does not answer 413 for a body just under 1 MiB (the field limits answer instead)', async () => {
      const payload = JSON.stringify({ id: uniqueId('almost'), displayName: 'x', description: 'a'.repeat(1024 * 1024 - 200) });
      const body = expectProblem(await post(payload, 'application/json'), 400);
      expect(body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'description' })]));
    });
  });

  describe('request ids', () => {
    it('echoes a valid X-Request-Id in the header and in the problem', async () => {
      const res = await app.inject({ method: 'GET', url: '/v1/tenants/does-not-exist-xyz', headers: { ...admin, 'x-request-id': 'client-req.42:abc_DEF' } });
      expect(res.headers['x-request-id']).toBe('client-req.42:abc_DEF');
      expect(expectProblem(res, 404).requestId).toBe('client-req.42:abc_DEF');
    });

    it('echoes the X-Request-Id on success too', async () => {
      const res = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'ok-123' } });
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-request-id']).toBe('ok-123');
    });

    it.each([
      ['with spaces', 'has spaces'],
      ['too long', 'x'.repeat(129)],
      ['with a newline-like payload', 'abc<script>'],
    ])('replaces an invalid X-Request-Id (%s) with its own', async (_, incoming) => {
      const res = await app.inject({ method: 'GET', url: '/v1/tenants', headers: { 'x-request-id': incoming } });
      const body = expectProblem(res, 401);
      expect(res.headers['x-request-id']).toMatch(/^req_[0-9a-f]{32}$/);
      expect(body.requestId).toBe(res.headers['x-request-id']);
    });

    it('gives every request its own id', async () => {
      const ids = await Promise.all([0, 1, 2].map(async () => (await app.inject({ method: 'GET', url: '/healthz' })).headers['x-request-id']));
      expect(new Set(ids).size).toBe(3);
    });
  });

  describe('every problem has the full shape and nothing internal', () => {
    const viewerOf = (tenant: string) => bearer(mintToken({ tenant, roles: ['viewer'] }));

    it.each<[string, number, () => Promise<Reply>]>([
      ['401 no token', 401, () => app.inject({ method: 'GET', url: '/v1/tenants' })],
      ['401 bad token', 401, () => app.inject({ method: 'GET', url: '/v1/tenants', headers: bearer('x.y.z') })],
      ['403 wrong role', 403, () => app.inject({ method: 'GET', url: '/v1/tenants', headers: viewerOf('t1') })],
      ['404 unknown route', 404, () => app.inject({ method: 'GET', url: '/v1/unknown/route', headers: admin })],
      ['404 unknown route without a token', 404, () => app.inject({ method: 'GET', url: '/nowhere' })],
      ['404 missing tenant', 404, () => app.inject({ method: 'GET', url: `/v1/tenants/${uniqueId('none')}`, headers: admin })],
      ['400 validation', 400, () => app.inject({ method: 'POST', url: '/v1/tenants', headers: admin, payload: { id: '!' } })],
      ['400 bad pageSize', 400, () => app.inject({ method: 'GET', url: '/v1/tenants?pageSize=0', headers: admin })],
      ['400 bad pageToken', 400, () => app.inject({ method: 'GET', url: '/v1/tenants?pageToken=zzz', headers: admin })],
      ['400 NUL in a string', 400, () => app.inject({ method: 'POST', url: '/v1/tenants', headers: admin, payload: { id: uniqueId('nul'), displayName: 'a\u0000b' } })],
      ['400 NUL in a metadata value', 400, () => app.inject({ method: 'POST', url: '/v1/tenants', headers: admin, payload: { id: uniqueId('nul'), displayName: 'x', metadata: { k: 'a\u0000b' } } })],
      ['412 If-Match', 412, async () => {
        const id = uniqueId('pre');
        await app.inject({ method: 'POST', url: '/v1/tenants', headers: admin, payload: { id, displayName: 'x' } });
        return app.inject({ method: 'DELETE', url: `/v1/tenants/${id}`, headers: { ...admin, 'if-match': '"nope"' } });
      }],
    ])('%s', async (_, status, call) => {
      expectProblem(await call(), status);
    });

    it('gives validation problems an errors[] of { field, message }', async () => {
      const body = expectProblem(await app.inject({ method: 'POST', url: '/v1/tenants', headers: admin, payload: { id: '!', displayName: '' } }), 400);
      expect(body.errors).toEqual(expect.arrayContaining([
        { field: 'id', message: expect.any(String) },
        { field: 'displayName', message: expect.any(String) },
      ]));
    });

    it('sets the instance to the request path without the query', async () => {
      const body = expectProblem(await app.inject({ method: 'GET', url: '/v1/tenants?pageSize=999&pageToken=secret-ish', headers: admin }), 400);
      expect(body.instance).toBe('/v1/tenants');
    });
  });
});
