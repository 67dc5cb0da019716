/** What every stored secret reads as. */
export const REDACTED = '***REDACTED***';

/** Encrypted leaves of one record, by group ("credentials", "headers", "parameters") then key. */
export type SecretGroups = Partial<Record<SecretGroup, Record<string, string>>>;
export type SecretGroup = 'credentials' | 'headers' | 'parameters';

export function redactKeys(blobs: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(blobs ?? {})) out[key] = REDACTED;
  return out;
}

export function hasAnySecret(groups: SecretGroups): boolean {
  return Object.values(groups).some((g) => g && Object.keys(g).length > 0);
}

export interface SecretMergeResult {
  blobs: Record<string, string>;
  /** Keys whose value this request supplied (not kept, not removed). */
  supplied: string[];
  /** Keys kept from before (omitted or sent back as REDACTED). */
  kept: string[];
}

/**
 * PATCH semantics for one group of secrets (API.md): an omitted key keeps its
 * value, a new value replaces it, null removes it, and the literal
 * "***REDACTED***" keeps it, so a client may send back what it read.
 */
export async function mergeSecretGroup(
  existing: Record<string, string> | undefined,
  patch: Record<string, unknown> | undefined,
  encrypt: (key: string, value: unknown) => Promise<string>,
): Promise<SecretMergeResult> {
  const blobs: Record<string, string> = { ...(existing ?? {}) };
  const supplied: string[] = [];
  for (const [key, value] of Object.entries(patch ?? {})) {
    if (value === REDACTED) continue;
    if (value === null) {
      delete blobs[key];
      continue;
    }
    Object.defineProperty(blobs, key, { value: await encrypt(key, value), enumerable: true, writable: true, configurable: true });
    supplied.push(key);
  }
  const kept = Object.keys(blobs).filter((k) => !supplied.includes(k));
  return { blobs, supplied, kept };
}

/** The plain values a PATCH would leave, for validation: kept secrets stand in as REDACTED. */
export function mergedPreview(existingKeys: string[], patch: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of existingKeys) out[key] = REDACTED;
  for (const [key, value] of Object.entries(patch ?? {})) {
    if (value === REDACTED) continue;
    if (value === null) delete out[key];
    else Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** The values a request really supplies: "***REDACTED***" (keep) and null (remove) are not values. */
export function stripRedacted(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== REDACTED && v !== null));
}
