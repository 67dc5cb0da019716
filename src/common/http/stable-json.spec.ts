import { stableStringify } from './stable-json';

describe('stableStringify', () => {
  it('gives equal output for objects whose keys differ only in order, at any depth', () => {
    expect(stableStringify({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } })).toBe(stableStringify({ a: { c: null, d: [1, { x: 1, y: 2 }] }, b: 1 }));
  });

  it('keeps array order significant', () => {
    expect(stableStringify([1, 2])).not.toBe(stableStringify([2, 1]));
  });

  it('drops undefined members like JSON does and distinguishes types', () => {
    expect(stableStringify({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(stableStringify({ a: '1' })).not.toBe(stableStringify({ a: 1 }));
    expect(stableStringify(undefined)).toBe('null');
  });

  it('escapes keys, so a crafted key cannot collide with another structure', () => {
    expect(stableStringify({ 'a":1,"b': 2 })).not.toBe(stableStringify({ a: 1, b: 2 }));
  });
});
