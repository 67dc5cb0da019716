import { jsonDepthExceeds, MAX_JSON_DEPTH, rejectDeepJson } from './json-depth';
import { ProblemException } from './problem';

const nested = (depth: number) => JSON.parse(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`) as unknown;

describe('jsonDepthExceeds', () => {
  it('counts objects and arrays as levels and scalars as none', () => {
    expect(jsonDepthExceeds(1, 0)).toBe(false);
    expect(jsonDepthExceeds(null, 0)).toBe(false);
    expect(jsonDepthExceeds({}, 1)).toBe(false);
    expect(jsonDepthExceeds({}, 0)).toBe(true);
    expect(jsonDepthExceeds([[{ a: [1] }]], 4)).toBe(false);
    expect(jsonDepthExceeds([[{ a: [1] }]], 3)).toBe(true);
  });

  it('finds the deep branch among shallow siblings', () => {
    expect(jsonDepthExceeds({ a: 1, b: { c: 2 }, d: [nested(10)] }, 11)).toBe(true);
    expect(jsonDepthExceeds({ a: 1, b: { c: 2 }, d: [nested(10)] }, 12)).toBe(false);
  });

  it('checks a body nested 100,000 levels deep without overflowing the stack', () => {
    expect(jsonDepthExceeds(nested(100_000), MAX_JSON_DEPTH)).toBe(true);
  });
});

describe('rejectDeepJson', () => {
  it('answers 400 for a body nested past the limit and lets anything shallower through', async () => {
    await expect(rejectDeepJson({ body: nested(MAX_JSON_DEPTH) })).resolves.toBeUndefined();
    await expect(rejectDeepJson({ body: undefined })).resolves.toBeUndefined();
    const error = await rejectDeepJson({ body: nested(MAX_JSON_DEPTH + 1) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProblemException);
    expect((error as ProblemException).problem.status).toBe(400);
  });
});
