import { serializeOnce, serializeReply } from './json-reply';

const text = (out: string | Buffer): string => (Buffer.isBuffer(out) ? out.toString('utf8') : out);

describe('serializeReply', () => {
  const metadata = serializeOnce({
    parametersMetadata: [{ name: 'baseUrl', label: 'Base URL – “quoted”, ünïcode', required: true, default: null }],
    authMetadata: [{ id: 'API_KEY', type: 'API_KEY', configTestSupported: true }],
  });

  it('writes a registered configMetadata as its cached bytes, giving the same JSON as JSON.stringify', () => {
    const view = { id: 'int-1', displayName: 'Ünïcode “name”', tags: ['a'], health: { status: 'unknown', lastError: null }, configMetadata: metadata };
    const out = serializeReply(view);
    expect(Buffer.isBuffer(out)).toBe(true);
    expect(text(out)).toBe(JSON.stringify(view));
    expect(JSON.parse(text(out))).toEqual(view);
  });

  it('handles an object whose only member is the registered metadata', () => {
    expect(text(serializeReply({ configMetadata: metadata }))).toBe(JSON.stringify({ configMetadata: metadata }));
  });

  it('stringifies everything else, including metadata that was not registered and an equal copy of registered metadata', () => {
    const copy = structuredClone(metadata);
    for (const payload of [{ id: 'x', configMetadata: copy }, [metadata], 'text', 42, null, { nested: { configMetadata: metadata } }]) {
      const out = serializeReply(payload);
      expect(typeof out).toBe('string');
      expect(out).toBe(JSON.stringify(payload));
    }
  });

  it('freezes what it caches, so the cached bytes can never go stale', () => {
    expect(Object.isFrozen(metadata)).toBe(true);
    expect(Object.isFrozen(metadata.parametersMetadata[0])).toBe(true);
    expect(() => {
      (metadata.authMetadata[0] as { configTestSupported: boolean }).configTestSupported = false;
    }).toThrow(TypeError);
  });
});
