import Ajv, { type ValidateFunction } from 'ajv';
import type { ParameterMetadata } from './connector.types';

/** One entry of a problem body's `errors[]`. */
export interface FieldError {
  field: string;
  message: string;
}

export interface ValidateParametersOptions {
  /** Where the values sit in the request body: "parameters", "credentials", … */
  fieldPrefix: string;
  /** False for a partial write whose omitted keys keep what is stored. */
  requireRequired: boolean;
  /** Default false: a key no metadata entry names is an error. */
  allowUnknown?: boolean;
}

export type CompiledJsonSchema = { ok: true; validate: ValidateFunction } | { ok: false; message: string };

/** Schemas are tenant input; past this they are refused rather than compiled. */
export const MAX_JSON_SCHEMA_CHARS = 64 * 1024;

const MAX_LISTED_OPTIONS = 10;

export const PARAMETER_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

// `logger: false`: an unknown `format` is ignored either way, and a tenant's schema should not write to our logs.
const ajv = new Ajv({ strict: false, allErrors: false, logger: false });

/** Tenants can post endless distinct schemas, so the cache is bounded; a Map iterates oldest first. */
const SCHEMA_CACHE_LIMIT = 500;
const schemaCache = new Map<string, CompiledJsonSchema>();

/**
 * Compiles a JSON Schema once per distinct JSON text. Never throws: an invalid, unresolvable,
 * too large or too deep schema comes back as `{ ok: false, message }`.
 */
export function compileJsonSchema(schema: Record<string, unknown>): CompiledJsonSchema {
  let key: string;
  try {
    key = JSON.stringify(schema);
  } catch {
    return { ok: false, message: 'must be a JSON object' };
  }
  if (key.length > MAX_JSON_SCHEMA_CHARS) {
    return { ok: false, message: `must be at most ${MAX_JSON_SCHEMA_CHARS} characters as JSON` };
  }
  const cached = schemaCache.get(key);
  if (cached) {
    schemaCache.delete(key);
    schemaCache.set(key, cached);
    return cached;
  }
  const compiled = compileUncached(key);
  schemaCache.set(key, compiled);
  if (schemaCache.size > SCHEMA_CACHE_LIMIT) {
    const oldest = schemaCache.keys().next().value;
    if (oldest !== undefined) schemaCache.delete(oldest);
  }
  return compiled;
}

function compileUncached(json: string): CompiledJsonSchema {
  try {
    // A private copy: Ajv keeps references into the schema it compiled.
    const validate = ajv.compile(JSON.parse(json) as Record<string, unknown>);
    // An `$async` schema validates to a Promise, which would read as "valid" here.
    if ((validate as { $async?: unknown }).$async === true) {
      return { ok: false, message: 'is not supported: $async schemas cannot be checked' };
    }
    return { ok: true, validate };
  } catch (err) {
    const reason = err instanceof RangeError ? 'is nested too deeply' : describeCompileError(err);
    return { ok: false, message: `is not a valid JSON Schema: ${reason}` };
  } finally {
    // Ajv registers every `$id` it sees instance-wide; one tenant's schema must not
    // resolve, collide with or pin another's, so the instance goes back to just its meta-schemas.
    ajv.removeSchema();
  }
}

function describeCompileError(err: unknown): string {
  const message = err instanceof Error ? err.message : 'it does not compile';
  return message.length > 300 ? `${message.slice(0, 300)}…` : message;
}

/** A copy of `metadata` ordered by `index` (stable for equal indexes). */
export function sortedByIndex<T extends Pick<ParameterMetadata, 'index'>>(metadata: readonly T[]): T[] {
  return [...metadata].sort((a, b) => a.index - b.index);
}

/** Fills each parameter's non-null `defaultValue` where the key is absent or null; returns a new object. */
export function applyDefaults(metadata: ParameterMetadata[], values: Record<string, unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = { ...values };
  for (const meta of metadata) {
    const current = ownValue(result, meta.name);
    if ((current === undefined || current === null) && meta.defaultValue !== null && meta.defaultValue !== undefined) {
      // A copy, so a caller mutating the result cannot change the metadata's default.
      Object.defineProperty(result, meta.name, {
        value: structuredClone(meta.defaultValue),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return result;
}

/**
 * Checks values against their metadata: the 422 kind of error. A null or "" value counts as
 * not given. Messages name the rule broken and never the value, which may be a secret.
 */
export function validateParameters(
  metadata: ParameterMetadata[],
  values: Record<string, unknown>,
  options: ValidateParametersOptions,
): FieldError[] {
  const { fieldPrefix, requireRequired, allowUnknown = false } = options;
  const errors: FieldError[] = [];
  const known = new Set(metadata.map((m) => m.name));

  if (!allowUnknown) {
    for (const key of Object.keys(values)) {
      if (known.has(key) || values[key] === undefined) continue;
      errors.push(
        PARAMETER_NAME_PATTERN.test(key)
          ? { field: `${fieldPrefix}.${key}`, message: 'is not a known parameter' }
          : // A key that could never be a parameter name is not echoed: it may be a pasted secret.
            { field: fieldPrefix, message: 'contains a key that is not a known parameter' },
      );
    }
  }

  for (const meta of sortedByIndex(metadata)) {
    const value = ownValue(values, meta.name);
    const field = `${fieldPrefix}.${meta.name}`;
    if (value === undefined || value === null || value === '') {
      if (requireRequired && meta.required) errors.push({ field, message: 'is required' });
      continue;
    }
    const message = checkValue(meta, value);
    if (message !== null) errors.push({ field, message });
  }
  return errors;
}

/** Own keys only: a parameter named like `constructor` must not read Object.prototype. */
function ownValue(values: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(values, name) ? values[name] : undefined;
}

/** The first rule `value` breaks, as a message that does not contain it; null when it satisfies all. */
export function checkValue(meta: ParameterMetadata, value: unknown): string | null {
  const typeMessage = checkType(meta, value);
  if (typeMessage !== null) return typeMessage;
  if (meta.jsonSchema !== null) return checkJsonSchema(meta, value);
  return null;
}

function checkType(meta: ParameterMetadata, value: unknown): string | null {
  switch (meta.type) {
    case 'String':
      return typeof value === 'string' ? null : 'must be a string';
    case 'Integer':
      if (!Number.isSafeInteger(value)) return 'must be an integer';
      return checkRange(meta.integerRange, value as number);
    case 'Float':
      if (typeof value !== 'number' || !Number.isFinite(value)) return 'must be a number';
      return checkRange(meta.floatRange, value);
    case 'Boolean':
      return typeof value === 'boolean' ? null : 'must be a boolean';
    case 'Options': {
      const allowed = (meta.options ?? []).map((o) => o.value);
      if (typeof value === 'string' && allowed.includes(value)) return null;
      if (allowed.length === 0) return 'has no options to choose from';
      return allowed.length <= MAX_LISTED_OPTIONS
        ? `must be one of: ${allowed.join(', ')}`
        : 'must be one of the parameter’s options';
    }
    case 'Json':
      return null;
    case 'Url':
      return isHttpUrl(value) ? null : 'must be an absolute http or https URL';
  }
}

function checkRange(range: ParameterMetadata['integerRange'], value: number): string | null {
  if (range === null) return null;
  if (range.min !== null && value < range.min) return `must be at least ${range.min}`;
  if (range.max !== null && value > range.max) return `must be at most ${range.max}`;
  return null;
}

function isHttpUrl(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

function checkJsonSchema(meta: ParameterMetadata, value: unknown): string | null {
  const compiled = compileJsonSchema(meta.jsonSchema as Record<string, unknown>);
  if (!compiled.ok) return 'cannot be checked: the parameter’s jsonSchema is invalid';
  let valid: boolean;
  try {
    valid = compiled.validate(value) as boolean;
  } catch {
    return 'is nested too deeply to check against its jsonSchema';
  }
  if (valid) return null;
  const first = compiled.validate.errors?.[0];
  const reason = first?.message ?? 'is invalid';
  // The path names keys inside the value; for a secret even those stay out of the message.
  const where = first && first.instancePath !== '' && !meta.secret ? `${first.instancePath} ` : '';
  return `does not match its jsonSchema: ${where}${reason}`;
}
