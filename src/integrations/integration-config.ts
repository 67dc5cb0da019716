import { ProblemException, Problems, type FieldError } from '../common/http/problem';
import { SecretUnavailableError } from '../common/crypto/crypto.service';
import { checkConfigMetadata, normalizeConfigMetadata, type ConfigMetadataDto } from '../connectors/config-metadata.dto';
import type { AuthMetadata, ConfigMetadata, ConnectorDefinition, ParameterMetadata, SupportedLevel } from '../connectors/connector.types';
import { validateParameters } from '../connectors/parameter-validation';

/** The metadata an integration runs with: its own (CUSTOM, or a SYSTEM override) or the catalog's. */
export function effectiveMetadata(stored: ConfigMetadata | null, connector: ConnectorDefinition | undefined): ConfigMetadata {
  return stored ?? connector?.configMetadata ?? { parametersMetadata: [], authMetadata: [] };
}

/** Normalises client-supplied metadata; structural problems are 400 (malformed on its face). */
export function acceptConfigMetadata(dto: ConfigMetadataDto): ConfigMetadata {
  const meta = normalizeConfigMetadata(dto);
  const errors = checkConfigMetadata(meta);
  if (errors.length) throw Problems.validation(errors);
  return meta;
}

export function resolveAuth(meta: ConfigMetadata, authMethod: string | null | undefined, level: SupportedLevel): AuthMetadata | null {
  if (authMethod === null || authMethod === undefined) return null;
  const auth = meta.authMetadata.find((a) => a.id === authMethod);
  if (!auth) {
    throw Problems.unprocessable(`authMethod '${authMethod}' is not one of this integration's auth methods (${meta.authMetadata.map((a) => a.id).join(', ') || 'none'}).`, [
      { field: 'authMethod', message: 'is not an authMetadata id' },
    ]);
  }
  if (!auth.supportedLevels.includes(level)) {
    throw Problems.unprocessable(`authMethod '${authMethod}' cannot be used at the ${level} level.`, [{ field: 'authMethod', message: `does not support ${level}` }]);
  }
  return auth;
}

/**
 * Validates values of a secret-bearing group after a merge: types of the values
 * this request supplies, and presence of every required key among kept + supplied.
 */
export function validateMergedValues(metadata: ParameterMetadata[], supplied: Record<string, unknown>, presentKeys: string[], prefix: string, requireRequired: boolean): FieldError[] {
  const errors = validateParameters(metadata, supplied, { fieldPrefix: prefix, requireRequired: false });
  if (requireRequired) {
    for (const p of metadata) {
      if (p.required && !presentKeys.includes(p.name)) errors.push({ field: `${prefix}.${p.name}`, message: 'is required' });
    }
  }
  return errors;
}

export function splitParameters(metadata: ParameterMetadata[], values: Record<string, unknown>): { plain: Record<string, unknown>; secret: Record<string, unknown> } {
  const secretNames = new Set(metadata.filter((p) => p.secret).map((p) => p.name));
  const plain: Record<string, unknown> = {};
  const secret: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(values)) {
    Object.defineProperty(secretNames.has(k) ? secret : plain, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return { plain, secret };
}

export const SECRET_UNAVAILABLE = 'secret-unavailable';

/** By shape too: an error from another copy of the crypto module (test registries) is still one. */
export function isSecretUnavailable(error: unknown): error is SecretUnavailableError {
  return error instanceof SecretUnavailableError || (error instanceof Error && error.name === 'SecretUnavailableError' && typeof (error as { field?: unknown }).field === 'string');
}

/**
 * A stored secret that does not open where it is (copied from another row or tenant, tampered
 * with, or sealed under a key no longer configured): 422, naming the field (never a value), so
 * the client knows what to send again. Nothing is sent anywhere.
 */
export function secretUnavailable(field: string): ProblemException {
  return new ProblemException({
    status: 422,
    type: SECRET_UNAVAILABLE,
    title: 'Stored credentials unavailable',
    detail: 'stored credentials cannot be decrypted; send them again',
    errors: [{ field, message: 'cannot be decrypted; send it again' }],
  });
}
