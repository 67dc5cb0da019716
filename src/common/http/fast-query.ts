/**
 * Query classes checked field by field with plain string tests instead of class-transformer +
 * class-validator (the list routes: about 3% of a list request's CPU). Each rule accepts a subset
 * of what the class's decorators accept and returns the transformed value; anything else, an
 * unknown key, a repeated key (an array) or a value a rule does not take, falls back to
 * class-validator, so every 400 problem is exactly the one it produces.
 */
export const REFUSED = Symbol('refused');
export type QueryRule = (value: string) => unknown;

const RULES = new Map<unknown, Readonly<Record<string, QueryRule>>>();

/** Registers the fast rules of a query class (next to its decorators, which stay the contract). */
export function fastQueryRules(metatype: abstract new () => object, rules: Record<string, QueryRule>): void {
  RULES.set(metatype, rules);
}

/** An instance of `metatype` when every key has a rule that takes its value; otherwise undefined. */
export function fastQuery(metatype: unknown, value: unknown): object | undefined {
  const rules = RULES.get(metatype);
  if (!rules || value === null || typeof value !== 'object') return undefined;
  const out = new (metatype as new () => Record<string, unknown>)();
  for (const key of Object.keys(value)) {
    const raw = (value as Record<string, unknown>)[key];
    if (!Object.hasOwn(rules, key) || typeof raw !== 'string') return undefined;
    const parsed = rules[key](raw);
    if (parsed === REFUSED) return undefined;
    out[key] = parsed;
  }
  return out;
}

/** A string of 1 to `max` UTF-16 units (always within class-validator's Length(1, max), which counts code points). */
export const textUpTo =
  (max: number, min = 1): QueryRule =>
  (value) =>
    value.length >= min && value.length <= max ? value : REFUSED;

export const oneOf =
  (...allowed: string[]): QueryRule =>
  (value) =>
    allowed.includes(value) ? value : REFUSED;
