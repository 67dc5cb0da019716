import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { validate, type ValidationError } from 'class-validator';
import {
  ConfigMetadataDto,
  checkConfigMetadata,
  normalizeConfigMetadata,
} from './config-metadata.dto';
import type { ConfigMetadata } from './connector.types';
import { param } from './metadata-builders';

type Plain = Record<string, any>;

/** Every field of the Fruxon shape, as a CUSTOM integration would send it. */
function fruxonExample(): Plain {
  return {
    parametersMetadata: [
      {
        name: 'baseUrl',
        index: 0,
        type: 'Url',
        typeName: null,
        displayName: 'Base URL',
        description: 'Where the API lives',
        required: true,
        secret: false,
        defaultValue: 'https://api.example.com',
        integerRange: null,
        floatRange: null,
        options: null,
        asset: null,
        jsonSchema: null,
        uiHint: 'url',
        rules: [],
      },
      {
        name: 'pageSize',
        index: 1,
        type: 'Integer',
        typeName: 'int32',
        displayName: 'Page size',
        description: null,
        required: false,
        secret: false,
        defaultValue: 50,
        integerRange: { min: 1, max: 200 },
        floatRange: null,
        options: null,
        asset: { icon: 'list', colors: ['#fff'] },
        jsonSchema: null,
        uiHint: null,
        rules: [{ kind: 'visibleWhen', field: 'baseUrl' }, 'free-form'],
      },
      {
        name: 'threshold',
        index: 2,
        type: 'Float',
        typeName: null,
        displayName: 'Threshold',
        description: null,
        required: false,
        secret: false,
        defaultValue: 0.5,
        integerRange: null,
        floatRange: { min: 0, max: 1 },
        options: null,
        asset: null,
        jsonSchema: null,
        uiHint: null,
        rules: [],
      },
      {
        name: 'method',
        index: 3,
        type: 'Options',
        typeName: null,
        displayName: 'Method',
        description: null,
        required: false,
        secret: false,
        defaultValue: 'GET',
        integerRange: null,
        floatRange: null,
        options: [
          { value: 'GET', displayName: 'GET' },
          { value: 'POST', displayName: 'POST' },
        ],
        asset: null,
        jsonSchema: null,
        uiHint: 'select',
        rules: [],
      },
      {
        name: 'extra',
        index: 4,
        type: 'Json',
        typeName: null,
        displayName: 'Extra',
        description: null,
        required: false,
        secret: false,
        defaultValue: { retries: 3 },
        integerRange: null,
        floatRange: null,
        options: null,
        asset: null,
        jsonSchema: { type: 'object', properties: { retries: { type: 'integer', minimum: 0 } } },
        uiHint: null,
        rules: [],
      },
      {
        name: 'verbose',
        index: 5,
        type: 'Boolean',
        typeName: null,
        displayName: 'Verbose',
        description: null,
        required: false,
        secret: false,
        defaultValue: false,
        integerRange: null,
        floatRange: null,
        options: null,
        asset: null,
        jsonSchema: null,
        uiHint: null,
        rules: [],
      },
    ],
    authMetadata: [
      {
        id: 'pat',
        displayName: 'Personal access token',
        description: 'A token with repo scope',
        type: 'BEARER',
        sensitivity: 'HIGH',
        authProviderName: null,
        configTestSupported: true,
        supportedLevels: ['APPLICATION', 'USER'],
        authMap: null,
        authSettings: null,
        parametersMetadata: [
          {
            name: 'token',
            index: 0,
            type: 'String',
            typeName: null,
            displayName: 'Token',
            description: null,
            required: true,
            secret: true,
            defaultValue: null,
            integerRange: null,
            floatRange: null,
            options: null,
            asset: null,
            jsonSchema: null,
            uiHint: 'password',
            rules: [],
          },
        ],
        availableScopes: [],
      },
      {
        id: 'oauth2',
        displayName: 'OAuth 2',
        description: null,
        type: 'OAUTH2_AUTHORIZATION_CODE',
        sensitivity: 'MEDIUM',
        authProviderName: 'example',
        configTestSupported: false,
        supportedLevels: ['USER'],
        authMap: {
          useMap: true,
          keyTemplate: '{{tenant}}-{{user}}',
          parametersMetadata: [
            {
              name: 'accountId',
              index: 0,
              type: 'String',
              typeName: null,
              displayName: 'Account',
              description: null,
              required: false,
              secret: false,
              defaultValue: null,
              integerRange: null,
              floatRange: null,
              options: null,
              asset: null,
              jsonSchema: null,
              uiHint: null,
              rules: [],
            },
          ],
        },
        authSettings: { parameters: { clientId: 'public-client-id' } },
        parametersMetadata: [
          {
            name: 'clientId',
            index: 0,
            type: 'String',
            typeName: null,
            displayName: 'Client id',
            description: null,
            required: true,
            secret: false,
            defaultValue: null,
            integerRange: null,
            floatRange: null,
            options: null,
            asset: null,
            jsonSchema: null,
            uiHint: null,
            rules: [],
          },
          {
            name: 'clientSecret',
            index: 1,
            type: 'String',
            typeName: null,
            displayName: 'Client secret',
            description: null,
            required: true,
            secret: true,
            defaultValue: null,
            integerRange: null,
            floatRange: null,
            options: null,
            asset: null,
            jsonSchema: null,
            uiHint: null,
            rules: [],
          },
        ],
        availableScopes: ['repo', 'read:org'],
      },
    ],
  };
}

function minimal(): Plain {
  return {
    parametersMetadata: [{ name: 'host', type: 'String' }, { name: 'port', type: 'Integer' }],
    authMetadata: [{ id: 'USER_PASSWORD', type: 'USER_PASSWORD', parametersMetadata: [{ name: 'password', type: 'String' }] }],
  };
}

/** Flattened "path: constraint" strings, e.g. "parametersMetadata.0.name: matches". */
function flatten(errors: ValidationError[], parent = ''): string[] {
  return errors.flatMap((e) => {
    const path = parent ? `${parent}.${e.property}` : e.property;
    const own = Object.keys(e.constraints ?? {}).map((c) => `${path}: ${c}`);
    return [...own, ...flatten(e.children ?? [], path)];
  });
}

/** The distinct paths that failed, sorted, for assertions that do not care which rule fired first. */
function fieldsOf(errors: string[]): string[] {
  return [...new Set(errors.map((e) => e.slice(0, e.indexOf(':'))))].sort();
}

async function validationErrors(plain: unknown): Promise<string[]> {
  const dto = plainToInstance(ConfigMetadataDto, plain);
  return flatten(await validate(dto, { whitelist: true, forbidNonWhitelisted: true }));
}

function normalized(plain: Plain): ConfigMetadata {
  return normalizeConfigMetadata(plainToInstance(ConfigMetadataDto, plain));
}

describe('ConfigMetadataDto', () => {
  it('accepts the full Fruxon example shape', async () => {
    expect(await validationErrors(fruxonExample())).toEqual([]);
  });

  it('accepts a minimal shape that leaves every defaulted field out', async () => {
    expect(await validationErrors(minimal())).toEqual([]);
  });

  it('accepts any JSON value as defaultValue', async () => {
    for (const defaultValue of ['x', 0, false, null, [1, 'a'], { nested: { deep: [null] } }]) {
      const body = minimal();
      body.parametersMetadata[0].defaultValue = defaultValue;
      expect(await validationErrors(body)).toEqual([]);
    }
  });

  it('rejects unknown fields at every level', async () => {
    const body = fruxonExample();
    body.extra = 1;
    body.parametersMetadata[0].colour = 'red';
    body.parametersMetadata[1].integerRange.step = 2;
    body.parametersMetadata[3].options[0].hidden = true;
    body.authMetadata[0].password = 'x';
    body.authMetadata[1].authMap.parametersMetadata[0].bogus = true;
    body.authMetadata[1].authSettings.other = {};
    expect((await validationErrors(body)).sort()).toEqual(
      [
        'extra: whitelistValidation',
        'parametersMetadata.0.colour: whitelistValidation',
        'parametersMetadata.1.integerRange.step: whitelistValidation',
        'parametersMetadata.3.options.0.hidden: whitelistValidation',
        'authMetadata.0.password: whitelistValidation',
        'authMetadata.1.authMap.parametersMetadata.0.bogus: whitelistValidation',
        'authMetadata.1.authSettings.other: whitelistValidation',
      ].sort(),
    );
  });

  it('keeps free-form objects (asset, jsonSchema, defaultValue) free of the whitelist', async () => {
    const body = minimal();
    body.parametersMetadata[0].asset = { anything: { goes: true } };
    body.parametersMetadata[0].jsonSchema = { type: 'string', 'x-vendor': 1 };
    expect(await validationErrors(body)).toEqual([]);
  });

  it('rejects values outside the enums', async () => {
    const body = minimal();
    body.parametersMetadata[0].type = 'Text';
    body.authMetadata[0].type = 'PASSWORD';
    body.authMetadata[0].sensitivity = 'SECRET';
    body.authMetadata[0].supportedLevels = ['APPLICATION', 'TENANT'];
    expect(await validationErrors(body)).toEqual([
      'parametersMetadata.0.type: isIn',
      'authMetadata.0.type: isIn',
      'authMetadata.0.sensitivity: isIn',
      'authMetadata.0.supportedLevels: isIn',
    ]);
  });

  it('rejects parameter names outside the name pattern and reserved names', async () => {
    for (const name of ['1port', 'my port', 'a'.repeat(65), '', 'x/y', '__proto__', 'constructor']) {
      const body = minimal();
      body.parametersMetadata[0].name = name;
      expect(await validationErrors(body)).not.toEqual([]);
    }
    for (const name of ['_private', 'a'.repeat(64), 'db.host', 'x-api-key']) {
      const body = minimal();
      body.parametersMetadata[0].name = name;
      expect(await validationErrors(body)).toEqual([]);
    }
  });

  it('rejects auth ids outside the client identifier pattern', async () => {
    const body = minimal();
    body.authMetadata[0].id = 'oauth2.v2';
    expect(await validationErrors(body)).toEqual(['authMetadata.0.id: matches']);
  });

  it('rejects over-long display names and descriptions', async () => {
    const body = minimal();
    body.parametersMetadata[0].displayName = 'd'.repeat(101);
    body.parametersMetadata[1].description = 'd'.repeat(501);
    body.authMetadata[0].displayName = '';
    expect(await validationErrors(body)).toEqual([
      'parametersMetadata.0.displayName: isLength',
      'parametersMetadata.1.description: maxLength',
      'authMetadata.0.displayName: isLength',
    ]);
  });

  it('caps parameters at 100, auth methods at 20 and options at 50', async () => {
    const body = minimal();
    body.parametersMetadata = Array.from({ length: 101 }, (_, i) => ({ name: `p${i}`, type: 'String' }));
    body.authMetadata = Array.from({ length: 21 }, (_, i) => ({ id: `a${i}`, type: 'NONE' }));
    expect(await validationErrors(body)).toEqual(['parametersMetadata: arrayMaxSize', 'authMetadata: arrayMaxSize']);

    const options = minimal();
    options.parametersMetadata[0] = {
      name: 'pick',
      type: 'Options',
      options: Array.from({ length: 51 }, (_, i) => ({ value: `v${i}` })),
    };
    expect(await validationErrors(options)).toEqual(['parametersMetadata.0.options: arrayMaxSize']);
  });

  it('rejects null where the contract has no null, and accepts it where it does', async () => {
    const body = minimal();
    body.parametersMetadata[0].required = null;
    body.parametersMetadata[0].index = null;
    body.authMetadata[0].supportedLevels = null;
    expect(fieldsOf(await validationErrors(body))).toEqual([
      'authMetadata.0.supportedLevels',
      'parametersMetadata.0.index',
      'parametersMetadata.0.required',
    ]);

    const nullable = minimal();
    Object.assign(nullable.parametersMetadata[0], { typeName: null, description: null, integerRange: null, jsonSchema: null, options: null });
    Object.assign(nullable.authMetadata[0], { authMap: null, authSettings: null, authProviderName: null });
    expect(await validationErrors(nullable)).toEqual([]);
  });

  it('rejects wrong JSON types for nested objects and arrays', async () => {
    const body = minimal();
    body.parametersMetadata[0].integerRange = [{ min: 1 }];
    body.parametersMetadata[0].jsonSchema = 'string';
    body.parametersMetadata[1].asset = [1];
    body.parametersMetadata[1].rules = {};
    body.authMetadata[0].parametersMetadata = [[{ name: 'password', type: 'String' }]];
    const errors = await validationErrors(body);
    expect(errors).toEqual(
      expect.arrayContaining([
        'parametersMetadata.0.integerRange: isObject',
        'parametersMetadata.0.jsonSchema: isObject',
        'parametersMetadata.1.asset: isObject',
        'parametersMetadata.1.rules: isArray',
        'authMetadata.0.parametersMetadata: isObject',
      ]),
    );
  });

  it('rejects a body without its two lists', async () => {
    expect(await validationErrors({})).toEqual(
      expect.arrayContaining(['parametersMetadata: isArray', 'authMetadata: isArray']),
    );
  });

  it('rejects non-integer indexes and non-finite ranges', async () => {
    const body = minimal();
    body.parametersMetadata[0].index = 1.5;
    body.parametersMetadata[1].floatRange = { min: '0', max: 1 };
    expect(await validationErrors(body)).toEqual([
      'parametersMetadata.0.index: isInt',
      'parametersMetadata.1.floatRange.min: isNumber',
    ]);
  });
});

describe('normalizeConfigMetadata', () => {
  it('returns the full Fruxon example unchanged', () => {
    expect(normalized(fruxonExample())).toEqual(fruxonExample());
  });

  it('fills every omitted parameter field with its default, index from the position', () => {
    const meta = normalized(minimal());
    expect(meta.parametersMetadata[1]).toEqual({
      name: 'port',
      index: 1,
      type: 'Integer',
      typeName: null,
      displayName: 'port',
      description: null,
      required: false,
      secret: false,
      defaultValue: null,
      integerRange: null,
      floatRange: null,
      options: null,
      asset: null,
      jsonSchema: null,
      uiHint: null,
      rules: [],
    });
  });

  it('fills every omitted auth field with its default', () => {
    const auth = normalized(minimal()).authMetadata[0];
    expect({ ...auth, parametersMetadata: [] }).toEqual({
      id: 'USER_PASSWORD',
      displayName: 'USER_PASSWORD',
      description: null,
      type: 'USER_PASSWORD',
      sensitivity: 'UNSPECIFIED',
      authProviderName: null,
      configTestSupported: true,
      supportedLevels: ['APPLICATION', 'USER'],
      authMap: null,
      authSettings: null,
      parametersMetadata: [],
      availableScopes: [],
    });
    expect(auth.parametersMetadata[0]).toMatchObject({ name: 'password', index: 0, secret: false, required: false });
  });

  it('fills defaults inside authMap, authSettings, ranges and options', () => {
    const body = minimal();
    body.parametersMetadata[0] = { name: 'pick', type: 'Options', options: [{ value: 'a' }], integerRange: { max: 3 } };
    body.authMetadata[0].authMap = {};
    body.authMetadata[0].authSettings = {};
    body.authMetadata[0].parametersMetadata = undefined;
    const meta = normalized(body);
    expect(meta.parametersMetadata[0]).toMatchObject({
      options: [{ value: 'a', displayName: 'a' }],
      integerRange: { min: null, max: 3 },
    });
    expect(meta.authMetadata[0]).toMatchObject({
      authMap: { useMap: false, keyTemplate: null, parametersMetadata: [] },
      authSettings: { parameters: {} },
      parametersMetadata: [],
    });
  });

  it('keeps given indexes as given', () => {
    const body = minimal();
    body.parametersMetadata[0].index = 10;
    body.parametersMetadata[1].index = 5;
    expect(normalized(body).parametersMetadata.map((p) => p.index)).toEqual([10, 5]);
  });
});

describe('checkConfigMetadata', () => {
  it('finds nothing wrong with the full Fruxon example', () => {
    expect(checkConfigMetadata(normalized(fruxonExample()))).toEqual([]);
  });

  it('reports a duplicate parameter name at the later entry, in every list', () => {
    const body = fruxonExample();
    body.parametersMetadata[2].name = 'baseUrl';
    body.authMetadata[1].parametersMetadata.push({ name: 'clientId', index: 2, type: 'String' });
    body.authMetadata[1].authMap.parametersMetadata.push({ name: 'accountId', index: 1, type: 'String' });
    expect(checkConfigMetadata(normalized(body))).toEqual([
      { field: 'configMetadata.parametersMetadata[2].name', message: 'must be unique: parametersMetadata[0] has the same name' },
      {
        field: 'configMetadata.authMetadata[1].parametersMetadata[2].name',
        message: 'must be unique: parametersMetadata[0] has the same name',
      },
      {
        field: 'configMetadata.authMetadata[1].authMap.parametersMetadata[1].name',
        message: 'must be unique: parametersMetadata[0] has the same name',
      },
    ]);
  });

  it('allows the same name in different lists', () => {
    const body = minimal();
    body.authMetadata[0].parametersMetadata = [{ name: 'host', type: 'String' }];
    expect(checkConfigMetadata(normalized(body))).toEqual([]);
  });

  it('reports duplicate indexes, including one that collides with a position default', () => {
    const body = minimal();
    body.parametersMetadata[1].index = 0;
    expect(checkConfigMetadata(normalized(body))).toEqual([
      { field: 'configMetadata.parametersMetadata[1].index', message: 'must be unique: parametersMetadata[0] has the same index' },
    ]);
  });

  it('reports duplicate auth ids', () => {
    const body = minimal();
    body.authMetadata.push({ id: 'USER_PASSWORD', type: 'NONE' });
    expect(checkConfigMetadata(normalized(body))).toEqual([
      { field: 'configMetadata.authMetadata[1].id', message: 'must be unique: authMetadata[0] has the same id' },
    ]);
  });

  it('reports ranges whose min exceeds max, and fractional integer bounds', () => {
    const body = minimal();
    body.parametersMetadata[0] = { name: 'a', type: 'Integer', integerRange: { min: 10, max: 1 } };
    body.parametersMetadata[1] = { name: 'b', type: 'Float', floatRange: { min: 1.5, max: 1.4 } };
    body.parametersMetadata.push({ name: 'c', type: 'Integer', integerRange: { min: 0.5, max: null } });
    body.parametersMetadata.push({ name: 'd', type: 'Float', floatRange: { min: 2, max: 2 } });
    expect(checkConfigMetadata(normalized(body))).toEqual([
      { field: 'configMetadata.parametersMetadata[0].integerRange', message: 'min must not be greater than max' },
      { field: 'configMetadata.parametersMetadata[1].floatRange', message: 'min must not be greater than max' },
      { field: 'configMetadata.parametersMetadata[2].integerRange.min', message: 'must be an integer' },
    ]);
  });

  it('requires a non-empty list of distinct options for an Options parameter', () => {
    const body = minimal();
    body.parametersMetadata[0] = { name: 'a', type: 'Options' };
    body.parametersMetadata[1] = { name: 'b', type: 'Options', options: [] };
    body.parametersMetadata.push({ name: 'c', type: 'Options', options: [{ value: 'x' }, { value: 'x' }] });
    expect(checkConfigMetadata(normalized(body))).toEqual([
      { field: 'configMetadata.parametersMetadata[0].options', message: 'must list at least one option for an Options parameter' },
      { field: 'configMetadata.parametersMetadata[1].options', message: 'must list at least one option for an Options parameter' },
      { field: 'configMetadata.parametersMetadata[2].options[1].value', message: 'must be unique: options[0] has the same value' },
    ]);
  });

  it('reports a jsonSchema that does not compile', () => {
    for (const jsonSchema of [{ type: 'nope' }, { $ref: 'https://example.com/remote.json' }, { minimum: 'one' }]) {
      const body = minimal();
      body.parametersMetadata[0] = { name: 'cfg', type: 'Json', jsonSchema };
      const errors = checkConfigMetadata(normalized(body));
      expect(errors).toHaveLength(1);
      expect(errors[0].field).toBe('configMetadata.parametersMetadata[0].jsonSchema');
      expect(errors[0].message).toMatch(/^is not a valid JSON Schema: /);
    }
  });

  it('reports a defaultValue its own parameter would reject', () => {
    const body = minimal();
    body.parametersMetadata[0] = { name: 'port', type: 'Integer', integerRange: { min: 1, max: 10 }, defaultValue: 11 };
    body.parametersMetadata[1] = { name: 'mode', type: 'Options', options: [{ value: 'a' }], defaultValue: 'b' };
    body.parametersMetadata.push({ name: 'cfg', type: 'Json', jsonSchema: { type: 'array' }, defaultValue: {} });
    expect(checkConfigMetadata(normalized(body))).toEqual([
      { field: 'configMetadata.parametersMetadata[0].defaultValue', message: 'must be at most 10' },
      { field: 'configMetadata.parametersMetadata[1].defaultValue', message: 'must be one of: a' },
      { field: 'configMetadata.parametersMetadata[2].defaultValue', message: 'does not match its jsonSchema: must be array' },
    ]);
  });

  it('refuses a default for a secret parameter or credential, which would be returned in clear', () => {
    const body = minimal();
    body.parametersMetadata[0] = { name: 'apiKey', type: 'String', secret: true, defaultValue: 'k' };
    body.authMetadata[0].parametersMetadata[0].secret = true;
    body.authMetadata[0].authSettings = { parameters: { password: 'p' } };
    expect(checkConfigMetadata(normalized(body)).map((e) => e.field)).toEqual([
      'configMetadata.parametersMetadata[0].defaultValue',
      'configMetadata.authMetadata[0].authSettings.parameters.password',
    ]);
  });

  it('prefixes fields with the given path', () => {
    const meta: ConfigMetadata = {
      parametersMetadata: [param(0, { name: 'a', type: 'String' }), param(0, { name: 'b', type: 'String' })],
      authMetadata: [],
    };
    expect(checkConfigMetadata(meta, 'body')).toEqual([
      { field: 'body.parametersMetadata[1].index', message: 'must be unique: parametersMetadata[0] has the same index' },
    ]);
  });
});
