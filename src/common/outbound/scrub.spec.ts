import { createScrubber, REDACTED, scrubDeep, scrubText } from './scrub';

const b64 = (text: string): string => Buffer.from(text).toString('base64');
const b64url = (text: string): string => Buffer.from(text).toString('base64url');
const hex = (text: string): string => Buffer.from(text).toString('hex');

describe('scrubText', () => {
  const secret = 'sk_live+/Qz?~9';

  it('replaces every occurrence of a secret as given', () => {
    expect(scrubText(`key=${secret}; again ${secret}`, [secret])).toBe(`key=${REDACTED}; again ${REDACTED}`);
  });

  it.each([
    ['base64', b64(secret)],
    ['base64 without padding', b64('abcd')],
    ['base64url', b64url(secret)],
    ['hex', hex(secret)],
    ['upper-case hex', hex(secret).toUpperCase()],
    ['URL-encoded', encodeURIComponent(secret)],
    ['URL-encoded with lower-case escapes', encodeURIComponent(secret).replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase())],
    ['form-encoded', new URLSearchParams({ k: 'two words+more' }).toString().slice(2)],
    ['JSON-escaped', JSON.stringify('pa"ss\\word').slice(1, -1)],
  ])('replaces the %s form', (_form, encoded) => {
    const secrets = [secret, 'abcd', 'two words+more', 'pa"ss\\word'];
    expect(scrubText(`before ${encoded} after`, secrets)).toBe(`before ${REDACTED} after`);
  });

  it('replaces the base64 of "user:password" when both are secrets (an HTTP Basic header)', () => {
    const header = `Authorization: Basic ${b64('alice:p@ss:word!')}`;
    expect(scrubText(header, ['alice', 'p@ss:word!'])).toBe(`Authorization: Basic ${REDACTED}`);
  });

  it('takes the leaves of a credentials object or array as secrets', () => {
    const credentials = { username: 'alice', password: 'hunter22', nested: ['tok-abc'] };
    expect(scrubText(`alice hunter22 tok-abc ${b64('alice:hunter22')}`, [credentials])).toBe(
      `${REDACTED} ${REDACTED} ${REDACTED} ${REDACTED}`,
    );
  });

  it('redacts a whole secret even when it is short, but not the encodings of a short one', () => {
    expect(scrubText('pin=ab, other=YWI= 6162', ['ab'])).toBe(`pin=${REDACTED}, other=YWI= 6162`);
  });

  it('coerces numbers and booleans of four characters or more, and ignores shorter ones', () => {
    expect(scrubText('code 123456 on port 443', [123456, 443])).toBe(`code ${REDACTED} on port 443`);
    expect(scrubText('flag true', [true])).toBe(`flag ${REDACTED}`);
  });

  it('ignores empty strings, null, undefined and functions, and leaves text alone without secrets', () => {
    expect(scrubText('nothing to hide', ['', null, undefined, () => 'x'])).toBe('nothing to hide');
    expect(scrubText('nothing to hide', [])).toBe('nothing to hide');
  });

  it('prefers the longest secret where two overlap', () => {
    expect(scrubText('x-abcdef-x', ['abcd', 'abcdef'])).toBe(`x-${REDACTED}-x`);
  });

  it('never matches inside a marker it has just written', () => {
    expect(scrubText('RED and ACT', ['RED', 'ACT'])).toBe(`${REDACTED} and ${REDACTED}`);
  });

  it('treats regular-expression characters in a secret literally', () => {
    expect(scrubText('aXbbbcd a.b*c(d)', ['a.b*c(d)'])).toBe(`aXbbbcd ${REDACTED}`);
  });
});

describe('scrubDeep', () => {
  it('copies nested objects and arrays with every string scrubbed, keys included, leaving the input intact', () => {
    const input = {
      message: 'upstream said: bad token t0k3n-value',
      details: { echoed: ['t0k3n-value', { deeper: `Bearer ${b64('t0k3n-value')}` }], status: 401, ok: false },
      't0k3n-value': 'as a key',
      none: null,
    };
    const output = scrubDeep(input, ['t0k3n-value']);
    expect(output).toEqual({
      message: `upstream said: bad token ${REDACTED}`,
      details: { echoed: [REDACTED, { deeper: `Bearer ${REDACTED}` }], status: 401, ok: false },
      [REDACTED]: 'as a key',
      none: null,
    });
    expect(input.details.echoed[0]).toBe('t0k3n-value');
    expect(output.details).not.toBe(input.details);
  });

  it('scrubs a bare string and returns other primitives unchanged', () => {
    expect(scrubDeep('secret-1', ['secret-1'])).toBe(REDACTED);
    expect(scrubDeep(42, ['secret-1'])).toBe(42);
    expect(scrubDeep(undefined, ['secret-1'])).toBeUndefined();
  });

  it('copies dates and survives cycles', () => {
    const when = new Date('2026-01-02T03:04:05Z');
    const cyclic: Record<string, unknown> = { when, text: 'pw-9999' };
    cyclic.self = cyclic;
    const output = scrubDeep(cyclic, ['pw-9999']);
    expect(output.text).toBe(REDACTED);
    expect(output.self).toBe(output);
    expect(output.when).toEqual(when);
    expect(output.when).not.toBe(when);
  });
});

describe('createScrubber', () => {
  const secrets = ['sk_live_4242', { user: 'svc-admin', password: 'pa55-word' }];

  it('compiles its regular expression only for a text that holds a secret, and then only once', () => {
    const compiled = jest.spyOn(globalThis, 'RegExp');
    try {
      const scrubber = createScrubber(secrets);
      expect(scrubber.deep({ status: 200, url: 'http://127.0.0.1/health', note: 'all fine' })).toEqual({ status: 200, url: 'http://127.0.0.1/health', note: 'all fine' });
      expect(compiled).not.toHaveBeenCalled();
      expect(scrubber.text(`key=${encodeURIComponent('pa55-word')}`)).toBe(`key=${REDACTED}`);
      expect(scrubber.text('again sk_live_4242')).toBe(`again ${REDACTED}`);
      expect(compiled).toHaveBeenCalledTimes(1);
    } finally {
      compiled.mockRestore();
    }
  });

  it('scrubs text and whole values with one set of secrets, exactly as the one-off forms do', () => {
    const scrubber = createScrubber(secrets);
    const message = `401 for ${b64('svc-admin:pa55-word')} using sk_live_4242 (${hex('pa55-word')})`;
    const details = { echoed: { 'sk_live_4242': ['pa55-word', 7] }, url: 'http://127.0.0.1/x' };
    expect(scrubber.text(message)).toBe(scrubText(message, secrets));
    expect(scrubber.text(message)).not.toMatch(/sk_live|pa55|c3ZjLWFkbWlu/);
    expect(scrubber.deep(details)).toEqual(scrubDeep(details, secrets));
    expect(scrubber.deep(details)).toEqual({ echoed: { [REDACTED]: [REDACTED, 7] }, url: 'http://127.0.0.1/x' });
  });

  it('keeps working across many calls (the compiled pattern is global, so its lastIndex must not leak between calls)', () => {
    const scrubber = createScrubber(['tok-12345']);
    for (let i = 0; i < 5; i++) expect(scrubber.text(`a tok-12345 b tok-12345 ${i}`)).toBe(`a ${REDACTED} b ${REDACTED} ${i}`);
  });

  it('leaves text alone when there is no secret', () => {
    expect(createScrubber([]).text('nothing secret here')).toBe('nothing secret here');
    expect(createScrubber([null, '']).deep({ a: 'b' })).toEqual({ a: 'b' });
  });
});
