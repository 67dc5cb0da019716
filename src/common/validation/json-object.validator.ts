import { registerDecorator, type ValidationOptions } from 'class-validator';

/** A plain JSON object (not an array, not null) whose serialised size and nesting stay bounded. */
export function IsJsonObject(limits: { maxBytes: number; maxDepth?: number; maxKeys?: number }, options?: ValidationOptions) {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isJsonObject',
      target: target.constructor,
      propertyName,
      options: { message: `must be a JSON object of at most ${limits.maxBytes} bytes`, ...options },
      validator: {
        validate(value: unknown) {
          if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
          if (limits.maxKeys !== undefined && Object.keys(value).length > limits.maxKeys) return false;
          if (depth(value) > (limits.maxDepth ?? 8)) return false;
          return Buffer.byteLength(JSON.stringify(value)) <= limits.maxBytes;
        },
      },
    });
}

/** Every value is a string (or null, meaning "remove" in a PATCH merge). */
export function IsStringRecord(limits: { maxKeys: number; maxValueLength: number; allowNull?: boolean }, options?: ValidationOptions) {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isStringRecord',
      target: target.constructor,
      propertyName,
      options: { message: `must be an object of at most ${limits.maxKeys} string values`, ...options },
      validator: {
        validate(value: unknown) {
          if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
          const entries = Object.entries(value);
          if (entries.length > limits.maxKeys) return false;
          return entries.every(
            ([k, v]) =>
              k.length > 0 && k.length <= 128 && ((limits.allowNull && v === null) || (typeof v === 'string' && v.length <= limits.maxValueLength)),
          );
        },
      },
    });
}

function depth(value: unknown, level = 0): number {
  if (level > 64) return level;
  if (value === null || typeof value !== 'object') return level;
  let max = level + 1;
  for (const child of Object.values(value)) max = Math.max(max, depth(child, level + 1));
  return max;
}
