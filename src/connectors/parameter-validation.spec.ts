import { param } from './metadata-builders';
import type { ParameterMetadata } from './connector.types';
import {
  MAX_JSON_SCHEMA_CHARS,
  applyDefaults,
  compileJsonSchema,
  sortedByIndex,
  validateParameters,
  type FieldError,
} from './parameter-validation';

const strict = { fieldPrefix: 'parameters', requireRequired: true };

function errorsFor(meta: ParameterMetadata, value: unknown): FieldError[] {
  return validateParameters([meta], { [meta.name]: value }, strict);
}

function messageFor(meta: ParameterMetadata, value: unknown): string | undefined {
  return errorsFor(meta, value)[0]?.message;
}

describe('validateParameters: types', () => {
  it('accepts a string for String and rejects any other JSON type', () => {
    const meta = param(0, { name: 'org', type: 'String' });
    expect(errorsFor(meta, 'acme')).toEqual([]);
    for (const wrong of [1, true, {}, ['a']]) {
      expect(errorsFor(meta, wrong)).toEqual([{ field: 'parameters.org', message: 'must be a string' }]);
    }
  });

  it('accepts only safe integer numbers for Integer, not integer-looking strings', () => {
    const meta = param(0, { name: 'port', type: 'Integer' });
    expect(errorsFor(meta, 5432)).toEqual([]);
    expect(errorsFor(meta, -1)).toEqual([]);
    for (const wrong of [5.5, '5432', 2 ** 53, true]) {
      expect(messageFor(meta, wrong)).toBe('must be an integer');
    }
  });

  it('accepts finite numbers for Float and rejects strings and infinities', () => {
    const meta = param(0, { name: 'ratio', type: 'Float' });
    expect(errorsFor(meta, 0.25)).toEqual([]);
    expect(errorsFor(meta, 3)).toEqual([]);
    for (const wrong of ['0.25', Infinity, Number.NaN]) {
      expect(messageFor(meta, wrong)).toBe('must be a number');
    }
  });

  it('accepts only true and false for Boolean', () => {
    const meta = param(0, { name: 'tls', type: 'Boolean' });
    expect(errorsFor(meta, false)).toEqual([]);
    expect(messageFor(meta, 'true')).toBe('must be a boolean');
    expect(messageFor(meta, 1)).toBe('must be a boolean');
  });

  it('accepts an Options value only when it equals one of the option values', () => {
    const meta = param(0, {
      name: 'testMethod',
      type: 'Options',
      options: ['GET', 'HEAD', 'POST'].map((v) => ({ value: v, displayName: v })),
    });
    expect(errorsFor(meta, 'HEAD')).toEqual([]);
    expect(messageFor(meta, 'get')).toBe('must be one of: GET, HEAD, POST');
    expect(messageFor(meta, 1)).toBe('must be one of: GET, HEAD, POST');
  });

  it('does not list the options when there are too many to read', () => {
    const options = Array.from({ length: 11 }, (_, i) => ({ value: `v${i}`, displayName: `V${i}` }));
    expect(messageFor(param(0, { name: 'region', type: 'Options', options }), 'nope')).toBe(
      'must be one of the parameter’s options',
    );
  });

  it('accepts any JSON value for Json without a schema', () => {
    const meta = param(0, { name: 'extra', type: 'Json' });
    for (const value of [{ a: [1, { b: null }] }, [1, 2], 'text', 7, false]) {
      expect(errorsFor(meta, value)).toEqual([]);
    }
  });

  it('accepts absolute http and https URLs for Url and rejects the rest', () => {
    const meta = param(0, { name: 'baseUrl', type: 'Url' });
    expect(errorsFor(meta, 'https://api.github.com')).toEqual([]);
    expect(errorsFor(meta, 'http://10.0.0.1:8080/path?q=1')).toEqual([]);
    for (const wrong of ['ftp://files.example.com', '/relative/path', 'not a url', 'javascript:alert(1)', 42]) {
      expect(messageFor(meta, wrong)).toBe('must be an absolute http or https URL');
    }
  });
});

describe('validateParameters: ranges', () => {
  it('treats integerRange bounds as inclusive', () => {
    const meta = param(0, { name: 'port', type: 'Integer', integerRange: { min: 1, max: 65535 } });
    expect(errorsFor(meta, 1)).toEqual([]);
    expect(errorsFor(meta, 65535)).toEqual([]);
    expect(messageFor(meta, 0)).toBe('must be at least 1');
    expect(messageFor(meta, 65536)).toBe('must be at most 65535');
  });

  it('applies a one-sided range and floatRange to Float values', () => {
    const atLeast = param(0, { name: 'ratio', type: 'Float', floatRange: { min: 0.5, max: null } });
    expect(errorsFor(atLeast, 1e9)).toEqual([]);
    expect(messageFor(atLeast, 0.49)).toBe('must be at least 0.5');
    const atMost = param(0, { name: 'ratio', type: 'Float', floatRange: { min: null, max: 1 } });
    expect(errorsFor(atMost, 1)).toEqual([]);
    expect(messageFor(atMost, 1.01)).toBe('must be at most 1');
  });
});

describe('validateParameters: jsonSchema', () => {
  const schema = {
    type: 'object',
    required: ['channel'],
    properties: { channel: { type: 'string' }, retries: { type: 'integer', minimum: 0 } },
    additionalProperties: false,
  };

  it('accepts a Json value that matches its schema', () => {
    expect(errorsFor(param(0, { name: 'cfg', type: 'Json', jsonSchema: schema }), { channel: '#ops', retries: 2 })).toEqual([]);
  });

  it('reports the first schema error with its path inside the value', () => {
    const meta = param(0, { name: 'cfg', type: 'Json', jsonSchema: schema });
    expect(errorsFor(meta, { channel: '#ops', retries: -1 })).toEqual([
      { field: 'parameters.cfg', message: 'does not match its jsonSchema: /retries must be >= 0' },
    ]);
    expect(messageFor(meta, {})).toBe("does not match its jsonSchema: must have required property 'channel'");
  });

  it('leaves the path out for a secret parameter, since it names keys of the secret', () => {
    const meta = param(0, { name: 'cfg', type: 'Json', secret: true, jsonSchema: schema });
    expect(messageFor(meta, { channel: 1 })).toBe('does not match its jsonSchema: must be string');
  });

  it('checks the schema after the type for non-Json parameters too', () => {
    const meta = param(0, { name: 'org', type: 'String', jsonSchema: { pattern: '^[a-z]+$' } });
    expect(errorsFor(meta, 'acme')).toEqual([]);
    expect(messageFor(meta, 'ACME')).toBe('does not match its jsonSchema: must match pattern "^[a-z]+$"');
    expect(messageFor(meta, 5)).toBe('must be a string');
  });

  it('reports an uncompilable schema as an error instead of throwing', () => {
    const meta = param(0, { name: 'cfg', type: 'Json', jsonSchema: { type: 'no-such-type' } });
    expect(messageFor(meta, {})).toBe('cannot be checked: the parameter’s jsonSchema is invalid');
  });

  it('reports a value nested deeper than the stack allows instead of throwing', () => {
    const node = { type: 'object', properties: { n: { $ref: '#/definitions/node' } } };
    const meta = param(0, { name: 'cfg', type: 'Json', jsonSchema: { $ref: '#/definitions/node', definitions: { node } } });
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 100_000; i++) deep = { n: deep };
    expect(messageFor(meta, deep)).toBe('is nested too deeply to check against its jsonSchema');
  });
});

describe('validateParameters: presence', () => {
  const required = param(0, { name: 'host', type: 'String', required: true });
  const optional = param(1, { name: 'port', type: 'Integer' });

  it('reports a required parameter that is missing, null or empty', () => {
    for (const values of [{}, { host: null }, { host: '' }]) {
      expect(validateParameters([required], values, strict)).toEqual([
        { field: 'parameters.host', message: 'is required' },
      ]);
    }
  });

  it('does not require anything when requireRequired is false', () => {
    expect(validateParameters([required], {}, { fieldPrefix: 'parameters', requireRequired: false })).toEqual([]);
  });

  it('skips type checks for an optional parameter that is null or empty', () => {
    expect(validateParameters([optional], { port: null }, strict)).toEqual([]);
    expect(validateParameters([optional], { port: '' }, strict)).toEqual([]);
  });

  it('names fields under the given prefix', () => {
    const token = param(0, { name: 'token', type: 'String', required: true, secret: true });
    expect(validateParameters([token], {}, { fieldPrefix: 'credentials', requireRequired: true })).toEqual([
      { field: 'credentials.token', message: 'is required' },
    ]);
  });

  it('does not read a parameter named like an Object.prototype member from the prototype', () => {
    const meta = param(0, { name: 'constructor', type: 'String', required: true });
    expect(validateParameters([meta], {}, strict)).toEqual([{ field: 'parameters.constructor', message: 'is required' }]);
  });
});

describe('validateParameters: unknown keys', () => {
  const meta = [param(0, { name: 'host', type: 'String' })];

  it('reports keys no metadata entry names', () => {
    expect(validateParameters(meta, { host: 'db', hots: 'db' }, strict)).toEqual([
      { field: 'parameters.hots', message: 'is not a known parameter' },
    ]);
  });

  it('accepts unknown keys when allowUnknown is set', () => {
    expect(validateParameters(meta, { hots: 'db' }, { ...strict, allowUnknown: true })).toEqual([]);
  });

  it('does not echo an unknown key that could never be a parameter name', () => {
    expect(validateParameters(meta, { 'Bearer abc/def==': true }, strict)).toEqual([
      { field: 'parameters', message: 'contains a key that is not a known parameter' },
    ]);
  });
});

describe('validateParameters: secrecy', () => {
  const secret = 'ghp_Zx9SuperSecretValue0123456789abcdefXY';

  it('never puts a secret-looking value into any message or field', () => {
    const schemaMeta = { type: 'object', properties: { [secret]: { type: 'integer' } }, additionalProperties: false };
    const cases: Array<[ParameterMetadata, unknown]> = [
      [param(0, { name: 'a', type: 'Integer' }), secret],
      [param(0, { name: 'a', type: 'Float' }), secret],
      [param(0, { name: 'a', type: 'Boolean' }), secret],
      [param(0, { name: 'a', type: 'Url' }), secret],
      [param(0, { name: 'a', type: 'Url' }), `ftp://user:${secret}@example.com`],
      [param(0, { name: 'a', type: 'Options', options: [{ value: 'x', displayName: 'X' }] }), secret],
      [param(0, { name: 'a', type: 'String', jsonSchema: { maxLength: 3 } }), secret],
      [param(0, { name: 'a', type: 'String', jsonSchema: { enum: ['x'] } }), secret],
      [param(0, { name: 'a', type: 'String', jsonSchema: { const: 'x' } }), secret],
      [param(0, { name: 'a', type: 'Json', secret: true, jsonSchema: schemaMeta }), { [secret]: 'x' }],
      [param(0, { name: 'a', type: 'Json', jsonSchema: { type: 'array', items: { type: 'integer' } } }), [secret]],
    ];
    for (const [meta, value] of cases) {
      const errors = errorsFor(meta, value);
      expect(errors).toHaveLength(1);
      expect(JSON.stringify(errors)).not.toContain(secret);
      expect(JSON.stringify(errors)).not.toContain('SuperSecret');
    }
    const unknown = validateParameters([], { [`${secret} `]: secret }, strict);
    expect(JSON.stringify(unknown)).not.toContain('SuperSecret');
  });
});

describe('applyDefaults', () => {
  const meta = [
    param(0, { name: 'port', type: 'Integer', defaultValue: 5432 }),
    param(1, { name: 'sslMode', type: 'String', defaultValue: 'require' }),
    param(2, { name: 'opts', type: 'Json', defaultValue: { retries: 3 } }),
    param(3, { name: 'database', type: 'String' }),
  ];

  it('fills defaults for absent and null keys, and keeps given falsy values', () => {
    expect(applyDefaults(meta, { port: 0, sslMode: null })).toEqual({ port: 0, sslMode: 'require', opts: { retries: 3 } });
    expect(applyDefaults(meta, { port: 6543, sslMode: '' })).toMatchObject({ port: 6543, sslMode: '' });
  });

  it('adds no key for a parameter whose default is null', () => {
    expect(applyDefaults(meta, {})).not.toHaveProperty('database');
  });

  it('returns a new object and does not share default objects with the metadata', () => {
    const values = {};
    const result = applyDefaults(meta, values);
    expect(values).toEqual({});
    (result.opts as { retries: number }).retries = 99;
    expect(meta[2].defaultValue).toEqual({ retries: 3 });
  });
});

describe('sortedByIndex', () => {
  it('returns a copy ordered by index, keeping the given order for equal indexes', () => {
    const list = [param(2, { name: 'c', type: 'String' }), param(0, { name: 'a', type: 'String' }), param(2, { name: 'd', type: 'String' })];
    expect(sortedByIndex(list).map((p) => p.name)).toEqual(['a', 'c', 'd']);
    expect(list.map((p) => p.name)).toEqual(['c', 'a', 'd']);
  });
});

describe('compileJsonSchema', () => {
  it('compiles each distinct schema text once', () => {
    const first = compileJsonSchema({ type: 'string', minLength: 2 });
    const again = compileJsonSchema({ type: 'string', minLength: 2 });
    expect(first.ok && again.ok && first.validate === again.validate).toBe(true);
  });

  it('keeps two schemas with the same $id apart', () => {
    const a = compileJsonSchema({ $id: 'https://example.com/shared', type: 'string' });
    const b = compileJsonSchema({ $id: 'https://example.com/shared', type: 'integer' });
    expect(a.ok && a.validate('x')).toBe(true);
    expect(b.ok && b.validate(1)).toBe(true);
    expect(b.ok && b.validate('x')).toBe(false);
  });

  it('refuses a schema that would replace the meta-schema, and still compiles others afterwards', () => {
    const hijack = compileJsonSchema({ $id: 'http://json-schema.org/draft-07/schema', type: 'string' });
    expect(hijack.ok).toBe(false);
    expect(compileJsonSchema({ type: 'object', properties: { x: { type: 'number' } } }).ok).toBe(true);
  });

  it('refuses unresolvable references, $async schemas, oversized and too deeply nested schemas', () => {
    expect(compileJsonSchema({ $ref: 'https://example.com/remote.json' }).ok).toBe(false);
    expect(compileJsonSchema({ $async: true, type: 'string' }).ok).toBe(false);
    expect(compileJsonSchema({ enum: ['x'.repeat(MAX_JSON_SCHEMA_CHARS)] })).toEqual({
      ok: false,
      message: `must be at most ${MAX_JSON_SCHEMA_CHARS} characters as JSON`,
    });
    const deep: Record<string, unknown> = {};
    let cursor = deep;
    for (let i = 0; i < 20_000; i++) {
      const next: Record<string, unknown> = {};
      cursor.items = next;
      cursor = next;
    }
    expect(compileJsonSchema(deep).ok).toBe(false);
  });
});
