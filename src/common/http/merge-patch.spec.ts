import { isUniqueViolation, mergePatch } from './merge-patch';

describe('mergePatch', () => {
  it('replaces given keys, removes null ones and keeps omitted ones', () => {
    expect(mergePatch({ a: 1, b: 2, c: 3 }, { b: null, c: 30, d: 4 })).toEqual({ a: 1, c: 30, d: 4 });
  });

  it('returns the target unchanged for an absent patch and never mutates it', () => {
    const target = { a: 1 };
    expect(mergePatch(target, undefined)).toBe(target);
    mergePatch(target, { a: null, b: 2 });
    expect(target).toEqual({ a: 1 });
  });

  it('replaces nested objects whole (one level of merge)', () => {
    expect(mergePatch({ n: { x: 1, y: 2 } }, { n: { y: 3 } })).toEqual({ n: { y: 3 } });
  });

  it('keeps a __proto__ key as plain data without changing the prototype', () => {
    const patch = JSON.parse('{"__proto__":{"polluted":true}}') as Record<string, unknown>;
    const out = mergePatch({}, patch);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect((out as { polluted?: unknown }).polluted).toBeUndefined();
    expect(Object.keys(out)).toEqual(['__proto__']);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });
});

describe('isUniqueViolation', () => {
  it('recognises 23505 on the error or its driverError only', () => {
    expect(isUniqueViolation({ code: '23505' })).toBe(true);
    expect(isUniqueViolation({ driverError: { code: '23505' } })).toBe(true);
    expect(isUniqueViolation({ code: '23503' })).toBe(false);
    expect(isUniqueViolation(null)).toBe(false);
  });
});
