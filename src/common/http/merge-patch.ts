/** RFC 7396 merge for one level of keys: null removes, anything else replaces. */
export function mergePatch(target: Record<string, unknown>, patch: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!patch) return target;
  const out: Record<string, unknown> = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    // defineProperty, so a key named __proto__ stays data and never becomes a prototype.
    else Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** True for errors PostgreSQL raises on a duplicate primary/unique key. */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; driverError?: { code?: string } };
  return e?.code === '23505' || e?.driverError?.code === '23505';
}

/** True for errors PostgreSQL raises when a referenced row (a tenant, an integration) is missing. */
export function isForeignKeyViolation(error: unknown): boolean {
  const e = error as { code?: string; driverError?: { code?: string } };
  return e?.code === '23503' || e?.driverError?.code === '23503';
}

/** Equality of two JSON values, missing and null alike: "did this PATCH change the value?". */
export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}
