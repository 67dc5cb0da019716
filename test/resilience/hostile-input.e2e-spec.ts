import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import fc from 'fast-check';
import { startTestApp, uniqueId } from '../support/test-app';
import { mintToken } from '../support/tokens';
import { forceGc, inPool, problemShapeErrors, startUpstream, type Upstream } from './support';

/**
 * Hostile input across every route: fast-check generates the requests, app.inject sends them.
 * Whatever comes in, the answer is a 4xx problem (or a 2xx for input that happens to be valid),
 * never a 5xx, never a stack trace, SQL or a stored secret, and Object.prototype stays clean.
 */

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT' | 'HEAD' | 'OPTIONS';

interface FuzzRequest {
  method: Method;
  url: string;
  headers: Record<string, string>;
  payload?: string;
  label: string;
}

interface Finding {
  label: string;
  method: string;
  url: string;
  status: number;
  problem: string;
  payload?: string;
}

const CANARY = 'fuzz-canary-secret';
/**
 * KNOWN ISSUE (docs/reliability.md): Fastify's router answers these itself, before any hook or
 * filter, as plain JSON instead of problem+json (a lone surrogate or invalid UTF-8 in the path;
 * a path parameter over 100 characters, as 414). Still 4xx, never 5xx; counted and printed, and
 * allowed only for these codes. Fix: FastifyAdapter({ frameworkErrors }) in create-app.ts.
 */
const KNOWN_NON_PROBLEM_CODES = ['FST_ERR_BAD_URL', 'FST_ERR_MAX_PARAM_LENGTH'];
const RUNS = 1000;
const TWO_MIB = 2 * 1024 * 1024;

/** Path segments already percent-encoded: SQL, traversal, NUL, invalid UTF-8, a lone surrogate, very long. */
const HOSTILE_SEGMENTS = [
  `'%20OR%20'1'%3D'1`,
  '1%3B%20DROP%20TABLE%20integrations%3B--',
  `x'%20UNION%20SELECT%20secrets%20FROM%20integrations--`,
  '..%2F..%2Fetc%2Fpasswd',
  '..',
  '.',
  '%2e%2e',
  '..%252f..%252f',
  '%00',
  'a%00b',
  '%ED%A0%80',
  '%F0%9F%98%80',
  '%FF%FE',
  '%C0%AE%C0%AE',
  '%zz',
  '%',
  'a'.repeat(65),
  'a'.repeat(10_000),
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  '%24%7Bjndi%3Aldap%3A%2F%2Fx%7D',
  '%7B%7B7*7%7D%7D',
  '%3Cscript%3E',
  'x%3AverifyConfig%3Aextra',
  '%3A%3A',
  '%20',
  'null',
  'NaN',
  '-1',
  '9'.repeat(400),
];

/** Raw strings placed inside JSON bodies. */
const HOSTILE_STRINGS = [
  '',
  ' ',
  'a'.repeat(10_000),
  'nul\u0000byte',
  'lone \ud800 surrogate',
  'reversed \udc00\ud800 pair',
  "'; DROP TABLE tenants; --",
  '" OR ""="',
  '../../../../etc/passwd',
  '${7*7}',
  '__proto__',
  '***REDACTED***',
  '\u202eRTL',
  '😀'.repeat(50),
  'http://169.254.169.254/latest/meta-data/',
  'javascript:alert(1)',
  '%00',
  '\r\nX-Injected: 1',
];

const CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/json; charset=utf-16',
  'application/xml',
  'application/merge-patch+json',
  'application/problem+json',
  'APPLICATION/JSON',
  'application/json;;;',
  '*/*',
  'application/octet-stream',
];

const LEAK_PATTERNS: [string, RegExp][] = [
  ['stack frame', /\bat [\w$.<>[\] ]+ \(|\(?\/[\w/.-]+\.[jt]s:\d+(:\d+)?\)?/],
  ['.ts: location', /\.ts:\d/],
  ['node_modules path', /node_modules/],
  ['SQL', /\bSELECT\b|\bINSERT\b|\bUPDATE\s+\w+\s+SET\b|syntax error|QueryFailedError|violates .* constraint|relation "|duplicate key value/],
  ['stored secret', new RegExp(CANARY)],
];

function jsonText(value: unknown): string {
  return JSON.stringify(value);
}

function nested(depth: number, leaf = '1', open = '{"a":', close = '}'): string {
  return `${open.repeat(depth)}${leaf}${close.repeat(depth)}`;
}

describe('hostile input', () => {
  let app: NestFastifyApplication;
  let upstream: Upstream;
  const tenant = uniqueId('fuzz');
  const other = uniqueId('fuzzo');
  const tokens = {
    admin: mintToken({ tenant, roles: ['admin'], sub: 'fuzz-admin' }),
    editor: mintToken({ tenant, roles: ['editor'], sub: 'fuzz-editor' }),
    viewer: mintToken({ tenant, roles: ['viewer'], sub: 'fuzz-viewer' }),
    root: mintToken({ roles: ['platform-admin'], sub: 'fuzz-root' }),
    otherAdmin: mintToken({ tenant: other, roles: ['admin'], sub: 'fuzz-other' }),
  };
  const known = { integration: 'fuzz-int', connection: '', endpoint: '', delivery: '', pageToken: '' };

  const send = (r: FuzzRequest) =>
    app.inject({ method: r.method, url: r.url, headers: r.headers, ...(r.payload === undefined ? {} : { payload: r.payload }) });

  const validIntegration = (overrides: Record<string, unknown> = {}) => ({
    id: uniqueId('fz'),
    displayName: 'Fuzzed',
    description: 'made by the fuzzer',
    connector: 'http',
    parameters: { baseUrl: upstream.url },
    authMethod: 'API_KEY',
    credentials: { apiKey: `${CANARY}-${Math.random().toString(36).slice(2)}` },
    headers: { 'X-Extra': `${CANARY}-header` },
    tags: ['fuzz'],
    ...overrides,
  });

  beforeAll(async () => {
    upstream = await startUpstream();
    ({ app } = await startTestApp({
      VERIFY_TIMEOUT_MS: '1000',
      VERIFY_MAX_IN_FLIGHT_PER_TENANT: '100',
      VERIFY_MAX_PER_MINUTE_PER_TENANT: '100000',
      WEBHOOK_RETRY_BASE_MS: '3600000',
    }));
    const auth = (t: string) => ({ authorization: `Bearer ${t}` });
    for (const id of [tenant, other]) {
      expect((await app.inject({ method: 'POST', url: '/v1/tenants', headers: auth(tokens.root), payload: { id, displayName: id } })).statusCode).toBe(201);
    }
    const endpoint = await app.inject({ method: 'POST', url: `/v1/tenants/${tenant}/webhook-endpoints`, headers: auth(tokens.admin), payload: { url: `${upstream.url}/hook`, events: ['*'] } });
    expect(endpoint.statusCode).toBe(201);
    known.endpoint = endpoint.json().id;
    for (const id of [known.integration, 'fuzz-int-2', 'fuzz-int-3']) {
      const res = await app.inject({ method: 'POST', url: `/v1/tenants/${tenant}/integrations`, headers: auth(tokens.editor), payload: validIntegration({ id }) });
      expect(res.statusCode).toBe(201);
    }
    const connection = await app.inject({
      method: 'POST',
      url: `/v1/tenants/${tenant}/integrations/${known.integration}/connections`,
      headers: auth(tokens.editor),
      payload: { name: 'Fuzz', accessScope: 'organizational', authMethod: 'API_KEY', credentials: { apiKey: `${CANARY}-conn` } },
    });
    expect(connection.statusCode).toBe(201);
    known.connection = connection.json().id;
    const page = await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}/integrations?pageSize=1`, headers: auth(tokens.viewer) });
    known.pageToken = page.json().nextPageToken;
    const deliveries = await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}/webhook-endpoints/${known.endpoint}/deliveries`, headers: auth(tokens.admin) });
    known.delivery = deliveries.json().deliveries?.[0]?.id ?? 'whdl_000000000000000000000000';
  }, 90_000);

  afterAll(async () => {
    await app?.close();
    await upstream?.close();
  });

  // ---- arbitraries ----------------------------------------------------------------------------

  const segment = (knownIds: () => string[], knownWeight = 4) =>
    fc.oneof(
      { weight: knownWeight, arbitrary: fc.nat().map((i) => knownIds()[i % knownIds().length]) },
      { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/) },
      { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_SEGMENTS) },
      { weight: 2, arbitrary: fc.string({ maxLength: 40 }).map((s) => encodeURIComponent(s) || 'x') },
    );
  // Mostly the fuzzed tenant itself, so most requests get past the access guard to validation.
  const tenantSeg = fc.oneof({ weight: 4, arbitrary: fc.constant(tenant) }, { weight: 1, arbitrary: segment(() => [other, 'missing-tenant']) });
  const integrationSeg = segment(() => [known.integration, 'fuzz-int-2', 'nope']);
  const connectionSeg = segment(() => [known.connection, 'conn_000000000000000000000000']);
  const endpointSeg = segment(() => [known.endpoint, 'whep_000000000000000000000000']);
  const verb = fc.constantFrom('verifyConfig', 'verify', 'authorize', 'rotateSecret', 'retry', 'testConfig', 'SELECT', 'x', '', '%00', 'verifyConfig%3Ax');

  const hostileNumber = fc.constantFrom('0', '-1', '201', '200', '1', '1e3', '1e309', 'NaN', 'Infinity', '-Infinity', '1.5', '99999999999999999999999', '', ' 5', '0x10', '5abc', 'null', '[]', '%00', '1%00');
  const forgedToken = fc.oneof(
    fc.constantFrom('', 'a', 'a.b', 'a.b.c', '..', '.', '%00', 'null', 'a'.repeat(600), 'a'.repeat(10_000)),
    fc.constant(null).map(() => known.pageToken),
    fc.constant(null).map(() => `${known.pageToken}x`),
    fc.constant(null).map(() => `${known.pageToken.split('.')[0]}.${'A'.repeat(43)}`),
    fc
      .record({ s: fc.oneof(fc.constantFrom('1 OR 1=1', '-1', '9'.repeat(30), '0', '1e9'), fc.string()), f: fc.string() })
      .map((c) => `${Buffer.from(jsonText(c)).toString('base64url')}.${'B'.repeat(43)}`),
    fc.base64String({ maxLength: 200 }).map((s) => encodeURIComponent(s)),
    fc.constant(Buffer.from('{"s":').toString('base64url') + '.' + 'C'.repeat(43)),
  );
  const queryParameters: [string, fc.Arbitrary<unknown>][] = [
    ['pageSize', fc.oneof(hostileNumber, fc.array(hostileNumber, { minLength: 2, maxLength: 3 }))],
    ['pageToken', forgedToken],
    ['view', fc.constantFrom('FULL', 'BASIC', 'full', 'SELECT', '')],
    ['enabled', fc.constantFrom('true', 'false', '1', 'yes', '')],
    ['connector', fc.oneof(fc.constantFrom('http', 'github', `'--`), fc.string({ maxLength: 80 }))],
    ['tag', fc.oneof(fc.constantFrom('fuzz', `x' OR 1=1`), fc.string({ maxLength: 80 }))],
    ['integration', fc.oneof(fc.constant('fuzz-int'), fc.string({ maxLength: 80 }))],
    ['accessScope', fc.constantFrom('personal', 'organizational', 'all', '')],
    ['__proto__', fc.constantFrom('polluted', '1')],
    ['__proto__[polluted]', fc.constant('yes')],
    ['constructor[prototype][polluted]', fc.constant('yes')],
    ['state', fc.string({ maxLength: 100 })],
    ['code', fc.string({ maxLength: 100 })],
    ['error', fc.constantFrom('access_denied', 'x')],
  ];
  const query = fc.tuple(...queryParameters.map(([, arb]) => sometimes(arb, 3))).map((values) => {
    const parts: string[] = [];
    values.forEach((v, i) => {
      if (v === undefined) return;
      for (const value of Array.isArray(v) ? v : [v]) {
        const raw = String(value);
        const encoded = /%[0-9A-Fa-f]{2}/.test(raw) ? raw : encodeURIComponent(raw.replace(/[\ud800-\udfff]/g, '?'));
        parts.push(`${encodeURIComponent(queryParameters[i][0])}=${encoded}`);
      }
    });
    return parts.length ? `?${parts.join('&')}` : '';
  });

  const hostileString = fc.oneof(fc.constantFrom(...HOSTILE_STRINGS), fc.string({ maxLength: 200, unit: 'binary' }), fc.string({ maxLength: 30 }));
  const wrongType = fc.oneof(
    fc.constantFrom(null, true, false, 0, -1, 1.5, 1e308, [], {}, [null], [[[]]], { $gt: '' }, { $ne: null }),
    hostileString,
    fc.jsonValue({ maxDepth: 3 }),
  );
  const massAssignment = fc.dictionary(
    fc.constantFrom('tenantId', 'tenant_id', 'id', 'etag', 'createdAt', 'modifiedAt', 'health', 'seq', 'secrets', 'object', 'ownerId', 'integrationId', 'secret', 'deliveries', 'polluted'),
    wrongType,
    { minKeys: 1, maxKeys: 3 },
  );

  /** A valid body for the route, then: fields dropped, fields of the wrong type, fields added. */
  const mutatedBody = (valid: () => Record<string, unknown>) =>
    fc
      .record({
        drop: fc.array(fc.nat({ max: 20 }), { maxLength: 3 }),
        retype: fc.array(fc.tuple(fc.nat({ max: 20 }), wrongType), { maxLength: 3 }),
        extra: sometimes(massAssignment, 1),
        nestedInto: sometimes(fc.tuple(fc.constantFrom('parameters', 'credentials', 'headers', 'metadata', 'configMetadata'), fc.jsonValue({ maxDepth: 4 })), 2),
      })
      .map(({ drop, retype, extra, nestedInto }) => {
        const body = valid();
        const keys = Object.keys(body);
        for (const i of drop) delete body[keys[i % keys.length]];
        for (const [i, value] of retype) body[keys[i % keys.length]] = value;
        if (extra) Object.assign(body, extra);
        if (nestedInto) body[nestedInto[0]] = nestedInto[1];
        return jsonText(body);
      });

  /** JSON text no object literal can express: prototype keys, depth, duplicates, escapes. */
  const rawBody = fc.oneof(
    fc.constantFrom(
      '{"__proto__":{"polluted":"yes"}}',
      '{"displayName":"x","__proto__":{"polluted":"yes"}}',
      '{"constructor":{"prototype":{"polluted":"yes"}}}',
      '{"parameters":{"__proto__":{"polluted":"yes"}}}',
      '{"metadata":{"constructor":{"prototype":{"polluted":"yes"}}}}',
      '{"credentials":{"__proto__":"x","apiKey":"y"}}',
      '{"id":"a","id":"b"}',
      '{"displayName":"\\u0000"}',
      '{"displayName":"\\ud800"}',
      '{"description":"\\udfff\\ud800"}',
      '\ufeff{"displayName":"bom"}',
      '{"displayName":"x"',
      '{displayName:"x"}',
      "{'displayName':'x'}",
      '[]',
      'null',
      '"string"',
      '123',
      'true',
      '',
      ' ',
      '{}',
      '{"a":1}garbage',
      '{"a":NaN}',
      '{"a":Infinity}',
      '{"a":1e999}',
      '{"a":-0}',
      '\u0000',
      '{"tags":' + jsonText(Array(10_000).fill('t')) + '}',
      '{"events":' + jsonText(Array(5000).fill('*')) + '}',
    ),
    fc.constantFrom(10, 100, 1000, 5000, 20_000).chain((depth) =>
      fc.constantFrom(
        `{"parameters":${nested(depth)}}`,
        `{"credentials":${nested(depth)}}`,
        `{"metadata":${nested(depth)}}`,
        `{"configMetadata":${nested(depth)}}`,
        `{"configMetadata":{"parametersMetadata":[${nested(depth)}]}}`,
        `{"unknown":${nested(depth, '1', '[', ']')}}`,
        nested(depth, '1', '[', ']'),
        nested(depth),
      ),
    ),
  );

  /** A valid body whose string values (top level and one level down) are swapped for hostile ones: reaches the database. */
  const hostileValues = (valid: () => Record<string, unknown>) =>
    fc.array(fc.tuple(fc.nat(), fc.oneof(fc.constantFrom(...HOSTILE_STRINGS.filter((x) => x.length <= 100)), fc.string({ maxLength: 60, unit: 'binary' }))), { minLength: 1, maxLength: 3 }).map((swaps) => {
      const body = valid();
      const slots: [Record<string, unknown>, string][] = [];
      for (const [k, v] of Object.entries(body)) {
        if (typeof v === 'string' && k !== 'id') slots.push([body, k]);
        if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k2, v2] of Object.entries(v)) if (typeof v2 === 'string') slots.push([v as Record<string, unknown>, k2]);
      }
      if (slots.length === 0) slots.push([body, 'displayName']);
      for (const [i, value] of swaps) {
        const [target, key] = slots[i % slots.length];
        target[key] = value;
      }
      return jsonText(body);
    });

  const bodyFor = (valid: () => Record<string, unknown>) =>
    fc.oneof(
      { weight: 4, arbitrary: mutatedBody(valid) },
      { weight: 3, arbitrary: hostileValues(valid) },
      { weight: 2, arbitrary: rawBody },
      { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map(jsonText) },
      { weight: 1, arbitrary: fc.constant(null).map(() => jsonText(valid())) },
    );

  const integrationBody = () => validIntegration({ parameters: { baseUrl: upstream.url } });
  const connectionBody = () => ({ name: 'Fuzz', accessScope: 'personal', authMethod: 'API_KEY', credentials: { apiKey: `${CANARY}-c` }, metadata: { a: 1 } });
  const endpointBody = () => ({ url: `${upstream.url}/hook`, events: ['integration.created'], description: 'fuzz' });
  const tenantBody = () => ({ id: uniqueId('fzt'), displayName: 'Fuzz tenant', description: 'd', metadata: { a: 1 } });
  const patchIntegration = () => ({ displayName: 'Patched', description: 'p', tags: ['x'], enabled: true, credentials: { apiKey: `${CANARY}-p` } });

  type Route = { method: Method; path: fc.Arbitrary<string>; body?: fc.Arbitrary<string | undefined>; token: keyof typeof tokens };
  const t = tenantSeg;
  const routes: Route[] = [
    { method: 'POST', path: fc.constant('/v1/tenants'), body: bodyFor(tenantBody), token: 'root' },
    { method: 'GET', path: fc.constant('/v1/tenants'), token: 'root' },
    { method: 'GET', path: t.map((x) => `/v1/tenants/${x}`), token: 'viewer' },
    { method: 'PATCH', path: t.map((x) => `/v1/tenants/${x}`), body: bodyFor(() => ({ displayName: 'x', metadata: { a: null } })), token: 'root' },
    { method: 'DELETE', path: fc.constantFrom(...HOSTILE_SEGMENTS).map((x) => `/v1/tenants/${x}`), token: 'root' },
    { method: 'POST', path: t.map((x) => `/v1/tenants/${x}/integrations`), body: bodyFor(integrationBody), token: 'editor' },
    { method: 'POST', path: t.map((x) => `/v1/tenants/${x}/integrations:testConfig`), body: bodyFor(integrationBody), token: 'editor' },
    { method: 'GET', path: t.map((x) => `/v1/tenants/${x}/integrations`), token: 'viewer' },
    { method: 'GET', path: fc.tuple(t, integrationSeg).map(([x, i]) => `/v1/tenants/${x}/integrations/${i}`), token: 'viewer' },
    { method: 'PATCH', path: fc.tuple(t, integrationSeg).map(([x, i]) => `/v1/tenants/${x}/integrations/${i}`), body: bodyFor(patchIntegration), token: 'editor' },
    { method: 'DELETE', path: fc.tuple(t, fc.constantFrom(...HOSTILE_SEGMENTS)).map(([x, i]) => `/v1/tenants/${x}/integrations/${i}`), token: 'editor' },
    { method: 'POST', path: fc.tuple(t, integrationSeg, verb).map(([x, i, v]) => `/v1/tenants/${x}/integrations/${i}:${v}`), body: sometimes(bodyFor(() => ({})), 1), token: 'editor' },
    { method: 'POST', path: fc.tuple(t, integrationSeg).map(([x, i]) => `/v1/tenants/${x}/integrations/${i}/connections`), body: bodyFor(connectionBody), token: 'editor' },
    { method: 'GET', path: t.map((x) => `/v1/tenants/${x}/connections`), token: 'viewer' },
    { method: 'GET', path: fc.tuple(t, connectionSeg).map(([x, c]) => `/v1/tenants/${x}/connections/${c}`), token: 'viewer' },
    { method: 'PATCH', path: fc.tuple(t, connectionSeg).map(([x, c]) => `/v1/tenants/${x}/connections/${c}`), body: bodyFor(() => ({ name: 'n', credentials: { apiKey: `${CANARY}-pc` } })), token: 'admin' },
    { method: 'DELETE', path: fc.tuple(t, fc.constantFrom(...HOSTILE_SEGMENTS)).map(([x, c]) => `/v1/tenants/${x}/connections/${c}`), token: 'admin' },
    { method: 'POST', path: fc.tuple(t, connectionSeg, verb).map(([x, c, v]) => `/v1/tenants/${x}/connections/${c}:${v}`), token: 'admin' },
    { method: 'GET', path: t.map((x) => `/v1/tenants/${x}/audit-events`), token: 'admin' },
    { method: 'GET', path: fc.constant('/v1/connectors'), token: 'viewer' },
    { method: 'GET', path: segment(() => ['http', 'github', 'postgresql']).map((c) => `/v1/connectors/${c}`), token: 'viewer' },
    { method: 'POST', path: t.map((x) => `/v1/tenants/${x}/webhook-endpoints`), body: bodyFor(endpointBody), token: 'admin' },
    { method: 'GET', path: t.map((x) => `/v1/tenants/${x}/webhook-endpoints`), token: 'admin' },
    { method: 'GET', path: fc.tuple(t, endpointSeg).map(([x, e]) => `/v1/tenants/${x}/webhook-endpoints/${e}`), token: 'admin' },
    { method: 'PATCH', path: fc.tuple(t, endpointSeg).map(([x, e]) => `/v1/tenants/${x}/webhook-endpoints/${e}`), body: bodyFor(() => ({ description: 'x', events: ['*'], enabled: false })), token: 'admin' },
    { method: 'DELETE', path: fc.tuple(t, fc.constantFrom(...HOSTILE_SEGMENTS)).map(([x, e]) => `/v1/tenants/${x}/webhook-endpoints/${e}`), token: 'admin' },
    { method: 'POST', path: fc.tuple(t, endpointSeg, verb).map(([x, e, v]) => `/v1/tenants/${x}/webhook-endpoints/${e}:${v}`), token: 'admin' },
    { method: 'GET', path: fc.tuple(t, endpointSeg).map(([x, e]) => `/v1/tenants/${x}/webhook-endpoints/${e}/deliveries`), token: 'admin' },
    {
      method: 'POST',
      path: fc.tuple(t, endpointSeg, segment(() => [known.delivery]), verb).map(([x, e, d, v]) => `/v1/tenants/${x}/webhook-endpoints/${e}/deliveries/${d}:${v}`),
      token: 'admin',
    },
    { method: 'GET', path: fc.constant('/v1/oauth2/callback'), token: 'viewer' },
    { method: 'PUT', path: fc.tuple(t, integrationSeg).map(([x, i]) => `/v1/tenants/${x}/integrations/${i}`), body: bodyFor(integrationBody), token: 'editor' },
    { method: 'HEAD', path: t.map((x) => `/v1/tenants/${x}/integrations`), token: 'viewer' },
    { method: 'OPTIONS', path: t.map((x) => `/v1/tenants/${x}/integrations`), token: 'viewer' },
    { method: 'GET', path: fc.constantFrom('/healthz', '/readyz', '/openapi.json', '/v1', '/v1/', '/', '/v1/tenants/', '//v1//tenants', '/v1/tenants/%2e%2e/tenants'), token: 'viewer' },
  ];

  const requestArb: fc.Arbitrary<FuzzRequest> = fc
    .record({
      route: fc.constantFrom(...routes),
      q: sometimes(query, 1).map((q) => q ?? ''),
      tokenChoice: fc.oneof(
        { weight: 8, arbitrary: fc.constant<'route'>('route') },
        { weight: 1, arbitrary: fc.constantFrom<keyof typeof tokens | 'none' | 'garbage'>('viewer', 'otherAdmin', 'root', 'none', 'garbage') },
      ),
      contentType: fc.oneof({ weight: 8, arbitrary: fc.constant('application/json') }, { weight: 2, arbitrary: fc.constantFrom(...CONTENT_TYPES) }),
      ifMatch: sometimes(fc.constantFrom('*', '"x"', 'W/"x"', '"', '""', ',,,', 'a'.repeat(5000), '"*", W/"*"'), 4),
      idempotencyKey: sometimes(fc.oneof(fc.constantFrom('k', ' ', 'a'.repeat(300), 'ключ', '%00', "'; DROP"), fc.string({ maxLength: 20, unit: 'grapheme-ascii' })), 4),
      requestId: sometimes(fc.constantFrom('<script>', 'a'.repeat(500), '../../x', 'ok-id'), 6),
      huge: sometimes(fc.constant(true), 300),
    })
    .chain(({ route, ...rest }) =>
      fc.tuple(route.path, route.body ?? fc.constant(undefined)).map(([path, body]): FuzzRequest => {
        const headers: Record<string, string> = {};
        const choice = rest.tokenChoice === 'route' ? route.token : rest.tokenChoice;
        if (choice === 'garbage') headers.authorization = 'Bearer eyJhbGciOiJub25lIn0.e30.';
        else if (choice !== 'none') headers.authorization = `Bearer ${tokens[choice]}`;
        let payload = body;
        if (rest.huge) payload = jsonText({ displayName: 'x'.repeat(TWO_MIB) });
        if (payload !== undefined) headers['content-type'] = rest.contentType;
        if (rest.ifMatch) headers['if-match'] = rest.ifMatch;
        if (rest.idempotencyKey) headers['idempotency-key'] = rest.idempotencyKey;
        if (rest.requestId) headers['x-request-id'] = rest.requestId;
        return { method: route.method, url: `${path}${rest.q}`, headers, payload, label: `${route.method} ${path.replace(/[^/]{40,}/g, '<long>')}` };
      }),
    );

  /** The corpus every run sends besides the generated requests: each hostile category at least once. */
  function corpus(): FuzzRequest[] {
    const auth = (tok: string) => ({ authorization: `Bearer ${tok}` });
    const json = { 'content-type': 'application/json' };
    const list: FuzzRequest[] = [];
    const writes: [Method, string, string][] = [
      ['POST', '/v1/tenants', tokens.root],
      ['PATCH', `/v1/tenants/${tenant}`, tokens.root],
      ['POST', `/v1/tenants/${tenant}/integrations`, tokens.editor],
      ['POST', `/v1/tenants/${tenant}/integrations:testConfig`, tokens.editor],
      ['PATCH', `/v1/tenants/${tenant}/integrations/${known.integration}`, tokens.editor],
      ['POST', `/v1/tenants/${tenant}/integrations/${known.integration}/connections`, tokens.editor],
      ['PATCH', `/v1/tenants/${tenant}/connections/${known.connection}`, tokens.admin],
      ['POST', `/v1/tenants/${tenant}/webhook-endpoints`, tokens.admin],
      ['PATCH', `/v1/tenants/${tenant}/webhook-endpoints/${known.endpoint}`, tokens.admin],
    ];
    for (const [method, url, tok] of writes) {
      for (const payload of fc.sample(rawBody, { numRuns: 1, seed: 1 }).concat([
        '{"__proto__":{"polluted":"yes"}}',
        '{"constructor":{"prototype":{"polluted":"yes"}}}',
        `{"parameters":${nested(20_000)}}`,
        `{"metadata":${nested(5000)}}`,
        `{"configMetadata":${nested(2000)}}`,
        nested(50_000, '1', '[', ']'),
        '{"displayName":"nul\\u0000","description":"\\ud800"}',
        '{"tenantId":"other","id":"x","etag":"e","createdAt":"2020-01-01T00:00:00Z","health":{"status":"healthy"}}',
      ])) {
        list.push({ method, url, headers: { ...auth(tok), ...json }, payload, label: `corpus ${method} ${url}` });
      }
      list.push({ method, url, headers: { ...auth(tok), ...json }, payload: jsonText({ displayName: 'x'.repeat(TWO_MIB) }), label: `corpus 2 MiB ${method} ${url}` });
      for (const type of CONTENT_TYPES) list.push({ method, url, headers: { ...auth(tok), 'content-type': type }, payload: 'displayName=x', label: `corpus ${type} ${method} ${url}` });
    }
    for (const seg of HOSTILE_SEGMENTS) {
      list.push({ method: 'GET', url: `/v1/tenants/${tenant}/integrations/${seg}`, headers: auth(tokens.viewer), label: 'corpus hostile id' });
      list.push({ method: 'GET', url: `/v1/tenants/${seg}/integrations`, headers: auth(tokens.root), label: 'corpus hostile tenant' });
      list.push({ method: 'POST', url: `/v1/tenants/${tenant}/integrations/${seg}:verifyConfig`, headers: auth(tokens.editor), label: 'corpus hostile action id' });
    }
    for (const size of ['0', '-1', '201', '1e309', 'NaN', '99999999999999999999999', '1.5', '%00']) {
      for (const list_ of ['integrations', 'connections', 'audit-events', 'webhook-endpoints']) {
        list.push({ method: 'GET', url: `/v1/tenants/${tenant}/${list_}?pageSize=${size}`, headers: auth(tokens.admin), label: 'corpus pageSize' });
      }
      list.push({ method: 'GET', url: `/v1/tenants?pageSize=${size}`, headers: auth(tokens.root), label: 'corpus pageSize tenants' });
      list.push({ method: 'GET', url: `/v1/connectors?pageSize=${size}`, headers: auth(tokens.viewer), label: 'corpus pageSize connectors' });
    }
    for (const tok of fc.sample(forgedToken, { numRuns: 30, seed: 2 })) {
      list.push({ method: 'GET', url: `/v1/tenants/${tenant}/integrations?pageToken=${tok}`, headers: auth(tokens.viewer), label: 'corpus pageToken' });
      list.push({ method: 'GET', url: `/v1/tenants/${tenant}/audit-events?pageToken=${tok}`, headers: auth(tokens.admin), label: 'corpus pageToken audit' });
    }
    list.push({ method: 'GET', url: `/v1/tenants/${tenant}/integrations?pageToken=${known.pageToken}&connector=http`, headers: auth(tokens.viewer), label: 'corpus pageToken with other filters' });
    list.push({ method: 'GET', url: `/v1/tenants/${other}/integrations?pageToken=${known.pageToken}`, headers: auth(tokens.otherAdmin), label: 'corpus foreign pageToken' });
    return list;
  }

  // ---- the run --------------------------------------------------------------------------------

  const knownNonProblem = new Map<string, number>();

  async function run(requests: FuzzRequest[], findings: Finding[], statuses: Map<number, number>): Promise<void> {
    await inPool(requests, 4, async (r) => {
      let res;
      try {
        res = await send(r);
      } catch (error) {
        findings.push({ label: r.label, method: r.method, url: r.url.slice(0, 200), status: -1, problem: `inject threw ${(error as Error).message}` });
        return;
      }
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      const problems: string[] = [];
      if (res.statusCode >= 500) problems.push(`${res.statusCode}`);
      const frameworkCode = KNOWN_NON_PROBLEM_CODES.find((code) => res.statusCode < 500 && res.body.includes(`"code":"${code}"`));
      if (frameworkCode) knownNonProblem.set(frameworkCode, (knownNonProblem.get(frameworkCode) ?? 0) + 1);
      else if (res.statusCode >= 400 && r.method !== 'HEAD') problems.push(...problemShapeErrors(res.statusCode, res.headers['content-type'] as string | undefined, res.body));
      const sentText = `${decodeURIComponentSafe(r.url)}\n${r.payload ?? ''}\n${JSON.stringify(r.headers)}`;
      for (const [name, pattern] of LEAK_PATTERNS) {
        // The catalog legitimately says "SELECT 1"; stack traces and SQL are looked for in errors, secrets everywhere.
        if (name !== 'stored secret' && res.statusCode < 400) continue;
        if (pattern.test(res.body) && !pattern.test(sentText)) problems.push(`leaks ${name}`);
      }
      if (problems.length) {
        findings.push({ label: r.label, method: r.method, url: r.url.slice(0, 200), status: res.statusCode, problem: `${problems.join(', ')}: ${res.body.slice(0, 300)}`, payload: r.payload?.slice(0, 2000) });
      }
    });
  }

  function summary(findings: Finding[]): string[] {
    const seen = new Map<string, Finding>();
    for (const f of findings) {
      const key = `${f.method} ${f.label.replace(/\/v1\/tenants\/[^/]+/, '/v1/tenants/{t}')} ${f.status} ${f.problem.slice(0, 60)}`;
      if (!seen.has(key)) seen.set(key, f);
    }
    return [...seen.values()].slice(0, 40).map((f) => `${f.method} ${f.url} -> ${f.problem}${f.payload ? `\n    payload: ${f.payload}` : ''}`);
  }

  it('never answers 5xx, leaks nothing, keeps Object.prototype clean and memory bounded', async () => {
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
    const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
    const findings: Finding[] = [];
    const statuses = new Map<number, number>();

    const fixed = corpus();
    const firstPass = fc.sample(requestArb, { numRuns: RUNS, seed });
    await run([...fixed, ...firstPass], findings, statuses);

    forceGc();
    const heapBefore = process.memoryUsage().heapUsed;
    const secondPass = fc.sample(requestArb, { numRuns: RUNS, seed: seed + 1 });
    await run(secondPass, findings, statuses);
    forceGc();
    const heapAfter = process.memoryUsage().heapUsed;
    const growthMb = (heapAfter - heapBefore) / 1024 / 1024;

    const health = await app.inject({ method: 'GET', url: '/healthz' });
    const total = fixed.length + firstPass.length + secondPass.length;
    const fiveXx = [...statuses].filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0);
    const leaks = findings.filter((f) => f.problem.includes('leaks')).length;
    const byClass = [...statuses].sort(([a], [b]) => a - b).map(([s, c]) => `${s}:${c}`).join(' ');
    console.log(
      `hostile input: ${total} requests (${fixed.length} corpus + 2 x ${RUNS} generated, seed ${seed}), ${fiveXx} x 5xx, ${leaks} leaks, ${findings.length} findings; ` +
        `statuses ${byClass}; known non-problem 4xx from the router ${JSON.stringify(Object.fromEntries(knownNonProblem))}; heap growth over the second pass ${growthMb.toFixed(1)} MB; /healthz ${health.statusCode}` +
        (findings.length ? `\n  ${summary(findings).join('\n  ')}` : ''),
    );

    expect(summary(findings)).toEqual([]);
    expect(health.statusCode).toBe(200);
    expect(growthMb).toBeLessThan(50);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
  }, 240_000);

  it('refuses mass assignment of server-owned fields and leaves the record untouched', async () => {
    const headers = { authorization: `Bearer ${tokens.editor}`, 'content-type': 'application/json' };
    const url = `/v1/tenants/${tenant}/integrations/fuzz-int-3`;
    const before = (await app.inject({ method: 'GET', url, headers })).json();
    const attempts: Record<string, unknown>[] = [
      { tenantId: other },
      { id: 'renamed' },
      { etag: 'chosen-etag' },
      { createdAt: '2000-01-01T00:00:00.000Z' },
      { modifiedAt: '2000-01-01T00:00:00.000Z' },
      { health: { status: 'healthy', checkedAt: null, latencyMs: 1, lastError: null } },
      { type: 'CUSTOM' },
      { connector: 'github' },
      { secrets: { credentials: {} } },
    ];
    for (const body of attempts) {
      const res = await app.inject({ method: 'PATCH', url, headers, payload: jsonText({ description: 'mass', ...body }) });
      expect({ body, status: res.statusCode }).toEqual({ body, status: 400 });
    }
    const created = await app.inject({
      method: 'POST',
      url: `/v1/tenants/${tenant}/integrations`,
      headers,
      payload: jsonText({ ...validIntegration(), tenantId: other }),
    });
    expect(created.statusCode).toBe(400);
    const after = (await app.inject({ method: 'GET', url, headers })).json();
    expect(after).toEqual(before);
    console.log(`mass assignment: ${attempts.length + 1} attempts (tenantId, id, etag, createdAt, modifiedAt, health, type, connector, secrets), all 400, record unchanged`);
  });
});

/** `arb` one time in `1 + absentWeight`, else undefined. */
function sometimes<T>(arb: fc.Arbitrary<T>, absentWeight: number): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: absentWeight, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
