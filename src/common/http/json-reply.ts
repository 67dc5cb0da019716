/**
 * Fastify's reply serializer, with one shortcut: a large value that never changes (a catalog
 * connector's `configMetadata`, about 7 KB, in every single-integration reply) is serialized once
 * and copied into the reply as bytes. Everything else is `JSON.stringify`, as Fastify would do.
 *
 * The output is the same JSON text; only the position of `configMetadata` among the top-level keys
 * is fixed as the last one (where the integration view already puts it).
 */
const fragments = new WeakMap<object, Buffer>();
const KEY = Buffer.from(',"configMetadata":');
const CLOSE = Buffer.from('}');

/**
 * Deep-freezes `value` and remembers its JSON: the caller promises it lives as long as the process.
 * Returns the same object.
 */
export function serializeOnce<T extends object>(value: T): T {
  if (!fragments.has(value)) {
    deepFreeze(value);
    fragments.set(value, Buffer.from(JSON.stringify(value), 'utf8'));
  }
  return value;
}

export function serializeReply(payload: unknown): string | Buffer {
  if (payload !== null && typeof payload === 'object' && !Array.isArray(payload)) {
    const metadata = (payload as { configMetadata?: unknown }).configMetadata;
    const fragment = metadata !== null && typeof metadata === 'object' ? fragments.get(metadata) : undefined;
    if (fragment !== undefined) {
      const { configMetadata: _spliced, ...rest } = payload as Record<string, unknown>;
      const head = JSON.stringify(rest);
      // '{}' has no member to follow: open with the key itself, without its comma.
      const opening = head === '{}' ? Buffer.from('{"configMetadata":') : Buffer.concat([Buffer.from(head.slice(0, -1), 'utf8'), KEY]);
      return Buffer.concat([opening, fragment, CLOSE]);
    }
  }
  return JSON.stringify(payload);
}

function deepFreeze(value: unknown): void {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const child of Object.values(value)) deepFreeze(child);
}
