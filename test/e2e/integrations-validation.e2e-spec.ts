import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { apiClient, createTenant, customMetadata, httpIntegration } from '../support/integrations-fixtures';
import { startTestApp } from '../support/test-app';

// Many requests per test against a real database, and suites run in parallel.
jest.setTimeout(30_000);

interface FieldError {
  field: string;
  message: string;
}

describe('integrations validation', () => {
  let app: NestFastifyApplication;
  let api: ReturnType<typeof apiClient>;
  let tenant: string;
  let editor: string;

  beforeAll(async () => {
    ({ app } = await startTestApp());
    api = apiClient(app);
    ({ tenant, editor } = await createTenant(app));
  });
  afterAll(async () => {
    await app.close();
  });

  const create = (payload: unknown) => api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload });
  const fields = (errors: FieldError[] | undefined) => (errors ?? []).map((e) => e.field);

  async function expectProblem(payload: unknown, status: number, field: string) {
    const res = await create(payload);
    expect({ status: res.status, fields: fields(res.json?.errors) }).toEqual({ status, fields: expect.arrayContaining([field]) });
    expect(res.headers['content-type']).toContain('application/problem+json');
    for (const key of ['type', 'title', 'status', 'detail', 'instance', 'requestId']) expect(res.json).toHaveProperty(key);
    // Nothing was stored by a refused create.
    if (typeof (payload as { id?: unknown }).id === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test((payload as { id: string }).id)) {
      expect((await api('GET', `/v1/tenants/${tenant}/integrations/${(payload as { id: string }).id}`, { token: editor })).status).toBe(404);
    }
    return res;
  }

  describe('malformed on its face: 400 with errors[].field', () => {
    it.each([
      ['id with a space', { id: 'has space' }, 'id'],
      ['id with a slash', { id: 'a/b' }, 'id'],
      ['id of 65 characters', { id: 'a'.repeat(65) }, 'id'],
      ['empty id', { id: '' }, 'id'],
      ['id as a number', { id: 42 }, 'id'],
      ['empty displayName', { displayName: '' }, 'displayName'],
      ['displayName of 101 characters', { displayName: 'd'.repeat(101) }, 'displayName'],
      ['description of 501 characters', { description: 'd'.repeat(501) }, 'description'],
      ['an unknown field', { colour: 'blue' }, 'colour'],
      ['tags as a string', { tags: 'scm' }, 'tags'],
      ['a tag with a space', { tags: ['a b'] }, 'tags'],
      ['enabled as a string', { enabled: 'yes' }, 'enabled'],
      ['isInternal as a number', { isInternal: 1 }, 'isInternal'],
      ['parameters as an array', { parameters: ['x'] }, 'parameters'],
      ['credentials as a string', { credentials: 'secret' }, 'credentials'],
      ['a header value that is not a string', { headers: { 'X-A': 1 } }, 'headers'],
      ['type not SYSTEM or CUSTOM', { type: 'OTHER' }, 'type'],
      ['connector as a number', { connector: 7 }, 'connector'],
    ])('refuses %s', async (_what, override, field) => {
      await expectProblem(httpIntegration(override), 400, field);
    });

    it('refuses a body without displayName or connector', async () => {
      const { displayName: _d, connector: _c, ...rest } = httpIntegration();
      const res = await expectProblem(rest, 400, 'displayName');
      expect(fields(res.json.errors)).toContain('connector');
    });

    it('refuses a body that is not JSON', async () => {
      const res = await app.inject({ method: 'POST', url: `/v1/tenants/${tenant}/integrations`, headers: { authorization: `Bearer ${editor}`, 'content-type': 'application/json' }, payload: '{"id":' });
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
    });

    it('refuses a header name that is not an HTTP token, without echoing it', async () => {
      const res = await expectProblem(httpIntegration({ headers: { 'Bad Header\u00e9': 'v' } }), 400, 'headers');
      expect(res.body).not.toContain('Bad Header');
    });

    it('refuses a CUSTOM integration without configMetadata', async () => {
      await expectProblem(httpIntegration({ type: 'CUSTOM' }), 400, 'configMetadata');
    });

    it('refuses a CUSTOM integration whose parameter names repeat', async () => {
      const meta = customMetadata();
      (meta.parametersMetadata as unknown[]).push({ name: 'baseUrl', type: 'String' });
      const res = await expectProblem(httpIntegration({ type: 'CUSTOM', configMetadata: meta }), 400, 'configMetadata.parametersMetadata[7].name');
      expect(res.json.errors[0].message).toMatch(/unique/);
    });

    it.each(['toString', 'valueOf', 'hasOwnProperty', '__proto__'])('refuses a parameter named %s (an Object.prototype member) instead of silently losing its value', async (name) => {
      const meta = { ...customMetadata(), parametersMetadata: [{ name: 'baseUrl', type: 'Url', required: true }, { name, type: 'String', secret: true }] };
      await expectProblem(httpIntegration({ type: 'CUSTOM', configMetadata: meta, parameters: { baseUrl: 'https://a.example.com' } }), 400, 'configMetadata.parametersMetadata[1].name');
    });

    it('refuses configMetadata with a parameter of an unknown type', async () => {
      const meta = { parametersMetadata: [{ name: 'x', type: 'Colour' }], authMetadata: [] };
      await expectProblem(httpIntegration({ type: 'CUSTOM', configMetadata: meta, authMethod: undefined, credentials: undefined }), 400, 'configMetadata.parametersMetadata[0].type');
    });

    it('refuses configMetadata null on create', async () => {
      await expectProblem(httpIntegration({ type: 'CUSTOM', configMetadata: null }), 400, 'configMetadata');
    });

    // PostgreSQL cannot store NUL in text or jsonb; the create statement runs on the pool directly (PreparedSql), found by the fuzzer as a 500.
    it.each([
      ['displayName', { displayName: 'nul\u0000byte' }],
      ['description', { description: 'a\u0000b' }],
    ])('refuses a NUL character in %s with 400 and stores nothing', async (_what, override) => {
      const payload = httpIntegration({ id: `nul-${Object.keys(override)[0]}`, ...override });
      const res = await create(payload);
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect((await api('GET', `/v1/tenants/${tenant}/integrations/${payload.id}`, { token: editor })).status).toBe(404);
    });

    it('refuses a NUL character in a PATCH with 400 and changes nothing', async () => {
      const created = await create(httpIntegration({ id: 'nul-patch' }));
      const res = await api('PATCH', `/v1/tenants/${tenant}/integrations/nul-patch`, { token: editor, payload: { displayName: 'a\u0000b' } });
      expect(res.status).toBe(400);
      expect((await api('GET', `/v1/tenants/${tenant}/integrations/nul-patch`, { token: editor })).json.etag).toBe(created.json.etag);
    });

    // class-validator's @ValidateNested accepts an empty array for a nested object: found by the hostile-input fuzzer as a 500.
    it.each([
      ['an empty array', []],
      ['an array of one object', [{ parametersMetadata: [], authMetadata: [] }]],
      ['a string', 'metadata'],
    ])('refuses configMetadata as %s with 400 on create, :testConfig and PATCH', async (_what, configMetadata) => {
      await expectProblem(httpIntegration({ configMetadata }), 400, 'configMetadata');
      const tested = await api('POST', `/v1/tenants/${tenant}/integrations:testConfig`, { token: editor, payload: httpIntegration({ configMetadata }) });
      expect({ status: tested.status, fields: fields(tested.json?.errors) }).toEqual({ status: 400, fields: expect.arrayContaining(['configMetadata']) });
      const target = await create(httpIntegration({ id: `meta-shape-${typeof configMetadata}-${Array.isArray(configMetadata) ? configMetadata.length : 's'}` }));
      expect(target.status).toBe(201);
      const patched = await api('PATCH', `/v1/tenants/${tenant}/integrations/${target.json.id}`, { token: editor, payload: { configMetadata } });
      expect({ status: patched.status, fields: fields(patched.json?.errors) }).toEqual({ status: 400, fields: expect.arrayContaining(['configMetadata']) });
      expect((await api('GET', `/v1/tenants/${tenant}/integrations/${target.json.id}`, { token: editor })).json.etag).toBe(target.json.etag);
    });
  });

  describe('well-formed but rejected by the service\'s knowledge: 422', () => {
    it('refuses an unknown connector', async () => {
      const res = await expectProblem(httpIntegration({ connector: 'no-such-connector' }), 422, 'connector');
      expect(res.body).not.toContain('test-key-0000');
    });

    it('refuses the ***REDACTED*** placeholder as a credential, header or secret parameter value on create', async () => {
      await expectProblem(httpIntegration({ credentials: { apiKey: '***REDACTED***' } }), 422, 'credentials.apiKey');
      await expectProblem(httpIntegration({ headers: { 'X-A': '***REDACTED***' } }), 422, 'headers.X-A');
      await expectProblem(
        httpIntegration({ type: 'CUSTOM', configMetadata: customMetadata(), parameters: { baseUrl: 'https://a.example.com', signingSecret: '***REDACTED***' } }),
        422,
        'parameters.signingSecret',
      );
    });

    it('refuses an unknown authMethod', async () => {
      await expectProblem(httpIntegration({ authMethod: 'MAGIC' }), 422, 'authMethod');
    });

    it('refuses an auth method that only supports the USER level', async () => {
      const meta = customMetadata();
      (meta.authMetadata as Record<string, unknown>[])[0].supportedLevels = ['USER'];
      await expectProblem(httpIntegration({ type: 'CUSTOM', configMetadata: meta, parameters: { baseUrl: 'https://a.example.com' } }), 422, 'authMethod');
    });

    it('refuses credentials without an authMethod', async () => {
      await expectProblem(httpIntegration({ authMethod: undefined }), 422, 'credentials');
    });

    it('refuses a missing required credential', async () => {
      await expectProblem(httpIntegration({ credentials: {} }), 422, 'credentials.apiKey');
    });

    it('refuses an unknown credential name', async () => {
      await expectProblem(httpIntegration({ credentials: { apiKey: 'k', other: 'x' } }), 422, 'credentials.other');
    });

    it('refuses a missing required parameter', async () => {
      await expectProblem(httpIntegration({ parameters: {} }), 422, 'parameters.baseUrl');
    });

    it('refuses an invalid Url parameter', async () => {
      await expectProblem(httpIntegration({ parameters: { baseUrl: 'not a url' } }), 422, 'parameters.baseUrl');
      await expectProblem(httpIntegration({ parameters: { baseUrl: 'ftp://files.example.com' } }), 422, 'parameters.baseUrl');
    });

    it('refuses a value that is not one of the options', async () => {
      await expectProblem(httpIntegration({ parameters: { baseUrl: 'https://a.example.com', testMethod: 'DELETE' } }), 422, 'parameters.testMethod');
    });

    it('refuses an unknown parameter', async () => {
      await expectProblem(httpIntegration({ parameters: { baseUrl: 'https://a.example.com', colour: 'blue' } }), 422, 'parameters.colour');
    });

    describe('on a CUSTOM integration', () => {
      const custom = (parameters: Record<string, unknown>) =>
        httpIntegration({ type: 'CUSTOM', configMetadata: customMetadata(), parameters: { baseUrl: 'https://a.example.com', ...parameters } });

      it('accepts values that fit every rule', async () => {
        const res = await create(custom({ retries: 5, ratio: 0.5, verbose: true, region: 'eu', filter: { kind: 'all' }, signingSecret: 's3cr3t-value' }));
        expect(res.status).toBe(201);
      });

      it.each([
        ['a string for an Integer', { retries: 'three' }, 'parameters.retries'],
        ['a fraction for an Integer', { retries: 1.5 }, 'parameters.retries'],
        ['an Integer above its range', { retries: 6 }, 'parameters.retries'],
        ['an Integer below its range', { retries: -1 }, 'parameters.retries'],
        ['a Float above its range', { ratio: 1.5 }, 'parameters.ratio'],
        ['a string for a Boolean', { verbose: 'true' }, 'parameters.verbose'],
        ['a value that is not an option', { region: 'mars' }, 'parameters.region'],
        ['Json that fails its jsonSchema', { filter: { kind: 3 } }, 'parameters.filter'],
        ['Json missing a key its jsonSchema requires', { filter: {} }, 'parameters.filter'],
        ['a number for a secret String', { signingSecret: 12345 }, 'parameters.signingSecret'],
      ])('refuses %s', async (_what, parameters, field) => {
        await expectProblem(custom(parameters), 422, field);
      });

      it('never echoes the value of a secret parameter in the error', async () => {
        const meta = customMetadata();
        (meta.parametersMetadata as Record<string, unknown>[])[6].jsonSchema = { type: 'string', minLength: 40 };
        const res = await expectProblem(
          httpIntegration({ type: 'CUSTOM', configMetadata: meta, parameters: { baseUrl: 'https://a.example.com', signingSecret: 'short-secret-value' } }),
          422,
          'parameters.signingSecret',
        );
        expect(res.body).not.toContain('short-secret-value');
      });

      it('reports every bad field at once', async () => {
        const res = await create(custom({ retries: 9, region: 'mars', verbose: 'x' }));
        expect(res.status).toBe(422);
        expect(fields(res.json.errors)).toEqual(expect.arrayContaining(['parameters.retries', 'parameters.region', 'parameters.verbose']));
      });
    });
  });

  describe('on PATCH', () => {
    let id: string;
    beforeAll(async () => {
      const res = await create(httpIntegration({ id: 'patch-me' }));
      expect(res.status).toBe(201);
      id = res.json.id;
    });
    const patch = (payload: unknown) => api('PATCH', `/v1/tenants/${tenant}/integrations/${id}`, { token: editor, payload });

    it.each([
      ['displayName of 101 characters', { displayName: 'd'.repeat(101) }, 400, 'displayName'],
      ['description of 501 characters', { description: 'd'.repeat(501) }, 400, 'description'],
      ['an unknown field', { connector: 'github' }, 400, 'connector'],
      ['enabled as a string', { enabled: 'no' }, 400, 'enabled'],
      ['an invalid Url parameter', { parameters: { baseUrl: 'nope' } }, 422, 'parameters.baseUrl'],
      ['an unknown authMethod', { authMethod: 'MAGIC' }, 422, 'authMethod'],
      ['a bad option', { parameters: { testMethod: 'PUT' } }, 422, 'parameters.testMethod'],
      ['removing a required parameter', { parameters: { baseUrl: null } }, 422, 'parameters.baseUrl'],
      ['removing a required credential', { credentials: { apiKey: null } }, 422, 'credentials.apiKey'],
    ])('refuses %s and changes nothing', async (_what, payload, status, field) => {
      const before = await api('GET', `/v1/tenants/${tenant}/integrations/${id}`, { token: editor });
      const res = await patch(payload);
      expect({ status: res.status, fields: fields(res.json.errors) }).toEqual({ status, fields: expect.arrayContaining([field]) });
      const after = await api('GET', `/v1/tenants/${tenant}/integrations/${id}`, { token: editor });
      expect(after.json).toEqual(before.json);
    });

    it('refuses configMetadata null on a CUSTOM integration with 400, not a 500', async () => {
      const created = await create(httpIntegration({ id: 'custom-null', type: 'CUSTOM', configMetadata: customMetadata() }));
      expect(created.status).toBe(201);
      const res = await api('PATCH', `/v1/tenants/${tenant}/integrations/custom-null`, { token: editor, payload: { configMetadata: null } });
      expect(res.status).toBe(400);
      expect(fields(res.json.errors)).toContain('configMetadata');
    });

    it('answers 404 for a PATCH of an integration that does not exist', async () => {
      expect((await api('PATCH', `/v1/tenants/${tenant}/integrations/missing`, { token: editor, payload: { displayName: 'x' } })).status).toBe(404);
      expect((await api('PATCH', `/v1/tenants/${tenant}/integrations/missing`, { token: editor, payload: { displayName: 'x' }, headers: { 'if-match': '*' } })).status).toBe(404);
    });
  });
});
