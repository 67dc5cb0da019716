import { Problems } from './problem';

/**
 * Deepest nesting a request body may have. The validation pipe (class-transformer) recurses once
 * per level and overflows the stack somewhere past 2,000, which would be a 500; legitimate bodies
 * (configMetadata with JSON Schemas included) stay far below this.
 */
export const MAX_JSON_DEPTH = 64;

/** True when a parsed JSON value nests deeper than `max`; iterative, so the check itself cannot overflow. */
export function jsonDepthExceeds(value: unknown, max: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  const stack: [object, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > max) return true;
    for (const child of Object.values(node)) {
      if (child !== null && typeof child === 'object') stack.push([child as object, depth + 1]);
    }
  }
  return false;
}

/** A Fastify preValidation hook: 400 for a body nested deeper than MAX_JSON_DEPTH, before any recursive code sees it. */
export async function rejectDeepJson(request: { body?: unknown }): Promise<void> {
  if (jsonDepthExceeds(request.body, MAX_JSON_DEPTH)) {
    throw Problems.badRequest(`The body is nested more than ${MAX_JSON_DEPTH} levels deep.`, [{ field: 'body', message: `is nested more than ${MAX_JSON_DEPTH} levels deep` }]);
  }
}
