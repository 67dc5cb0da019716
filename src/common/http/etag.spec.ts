import { assertIfMatch, newEtag } from './etag';
import { ProblemException } from './problem';

function status412(run: () => void): number {
  try {
    run();
  } catch (error) {
    return (error as ProblemException).problem.status;
  }
  return 0;
}

describe('assertIfMatch', () => {
  const etag = 'abc123_-XYZ';

  it.each([
    ['absent', undefined],
    ['empty', ''],
    ['blank', '   '],
    ['quoted', `"${etag}"`],
    ['bare', etag],
    ['*', '*'],
    ['in a list', `"other", "${etag}"`],
    ['a list with *', '"other", *'],
  ])('passes when If-Match is %s', (_, header) => {
    expect(() => assertIfMatch(header, etag)).not.toThrow();
  });

  it.each([
    ['another etag', '"different"'],
    ['a prefix of it', `"${etag.slice(0, 5)}"`],
    ['it with extra text', `"${etag}x"`],
    ['a list without it', '"a", "b"'],
    ['different case', `"${etag.toLowerCase()}"`],
    ['the same value as a weak validator (strong comparison)', `W/"${etag}"`],
  ])('throws 412 when If-Match is %s', (_, header) => {
    expect(status412(() => assertIfMatch(header, etag))).toBe(412);
  });
});

describe('newEtag', () => {
  it('is opaque, header-safe and different every time', () => {
    const etags = new Set(Array.from({ length: 200 }, () => newEtag()));
    expect(etags.size).toBe(200);
    for (const e of etags) expect(e).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });
});
