import { hasAnySecret, mergedPreview, mergeSecretGroup, redactKeys, REDACTED } from './secret-fields';

const fakeEncrypt = async (key: string, value: unknown) => `blob(${key}=${JSON.stringify(value)})`;

describe('mergeSecretGroup', () => {
  it('keeps omitted keys, replaces given ones, removes null ones and keeps ***REDACTED*** ones', async () => {
    const result = await mergeSecretGroup(
      { keep: 'old-keep', replace: 'old-replace', remove: 'old-remove', echoed: 'old-echoed' },
      { replace: 'new', remove: null, echoed: REDACTED, added: 'fresh' },
      fakeEncrypt,
    );
    expect(result.blobs).toEqual({ keep: 'old-keep', replace: 'blob(replace="new")', echoed: 'old-echoed', added: 'blob(added="fresh")' });
    expect(result.supplied.sort()).toEqual(['added', 'replace']);
    expect(result.kept.sort()).toEqual(['echoed', 'keep']);
  });

  it('never encrypts the placeholder and ignores it for a key that is not stored', async () => {
    const encrypt = jest.fn(fakeEncrypt);
    const result = await mergeSecretGroup({}, { ghost: REDACTED }, encrypt);
    expect(encrypt).not.toHaveBeenCalled();
    expect(result).toEqual({ blobs: {}, supplied: [], kept: [] });
  });

  it('keeps a key named __proto__ as data, never as a prototype', async () => {
    const result = await mergeSecretGroup({}, JSON.parse('{"__proto__": "x"}'), fakeEncrypt);
    expect(Object.getPrototypeOf(result.blobs)).toBe(Object.prototype);
    expect(Object.keys(result.blobs)).toEqual(['__proto__']);
  });
});

describe('mergedPreview', () => {
  it('shows which keys a merge would leave, stored ones standing in as the placeholder', () => {
    expect(mergedPreview(['a', 'b', 'c'], { b: null, c: REDACTED, d: 'new' })).toEqual({ a: REDACTED, c: REDACTED, d: 'new' });
  });
});

describe('redactKeys and hasAnySecret', () => {
  it('reads every stored leaf as the placeholder and nothing else', () => {
    expect(redactKeys({ token: 'sb1.whatever', other: 'sb1.x' })).toEqual({ token: REDACTED, other: REDACTED });
    expect(redactKeys(undefined)).toEqual({});
  });

  it('tells whether any group holds a secret', () => {
    expect(hasAnySecret({})).toBe(false);
    expect(hasAnySecret({ credentials: {}, headers: {} })).toBe(false);
    expect(hasAnySecret({ headers: { 'X-A': 'sb1.x' } })).toBe(true);
  });
});
