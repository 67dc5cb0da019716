import { sign } from 'jsonwebtoken';
import type { Principal } from './principal';
import { expiryOf, VERIFIED_TOKEN_TTL_MS, VerifiedTokens } from './verified-tokens';

const alice: Principal = { sub: 'alice', tenantId: 'acme', roles: ['editor'], platformAdmin: false };

describe('VerifiedTokens', () => {
  let now = 1_000_000_000_000;
  const clock = () => now;
  const inSeconds = (s: number) => Math.floor(now / 1000) + s;

  it('answers the exact same header until the token expires', () => {
    const tokens = new VerifiedTokens(clock);
    tokens.set('Bearer a.b.c', alice, inSeconds(30));
    expect(tokens.get('Bearer a.b.c')).toBe(alice);
    expect(tokens.get('bearer a.b.c')).toBeUndefined();
    expect(tokens.get('Bearer a.b.c ')).toBeUndefined();
    now += 29_999;
    expect(tokens.get('Bearer a.b.c')).toBe(alice);
    now += 1;
    expect(tokens.get('Bearer a.b.c')).toBeUndefined();
    expect(tokens.size).toBe(0);
  });

  it('forgets a long-lived token after the TTL, so it is verified again (a withdrawn JWKS key stops working)', () => {
    const tokens = new VerifiedTokens(clock);
    tokens.set('Bearer long', alice, inSeconds(24 * 3600));
    now += VERIFIED_TOKEN_TTL_MS - 1;
    expect(tokens.get('Bearer long')).toBe(alice);
    now += 1;
    expect(tokens.get('Bearer long')).toBeUndefined();
  });

  it('stores nothing for a token that has already expired or carries no exp', () => {
    const tokens = new VerifiedTokens(clock);
    tokens.set('Bearer past', alice, inSeconds(-1));
    tokens.set('Bearer now', alice, Math.floor(now / 1000));
    tokens.set('Bearer none', alice, Number.NaN);
    expect(tokens.size).toBe(0);
  });

  it('holds at most its bound, dropping the oldest entry first', () => {
    const tokens = new VerifiedTokens(clock, 3);
    for (const t of ['one', 'two', 'three', 'four']) tokens.set(`Bearer ${t}`, alice, inSeconds(30));
    expect(tokens.size).toBe(3);
    expect(tokens.get('Bearer one')).toBeUndefined();
    expect(tokens.get('Bearer four')).toBe(alice);
  });

  it('keeps digests, not the tokens', () => {
    const tokens = new VerifiedTokens(clock);
    tokens.set('Bearer canary-token-value', alice, inSeconds(30));
    const keys = [...(tokens as unknown as { entries: Map<string, unknown> }).entries.keys()];
    expect(keys).toHaveLength(1);
    expect(keys[0]).not.toContain('canary');
    expect(Buffer.from(keys[0], 'base64')).toHaveLength(32);
  });
});

describe('expiryOf', () => {
  it('reads exp from the header value of a JWS', () => {
    const token = sign({ sub: 'a' }, 'k'.repeat(32), { algorithm: 'HS256', expiresIn: 60, noTimestamp: true });
    expect(expiryOf(`Bearer ${token}`)).toBe(Math.floor(Date.now() / 1000) + 60);
  });

  it.each(['Bearer', 'Bearer x', 'Bearer a.!!!.c', `Bearer a.${Buffer.from('{"exp":"soon"}').toString('base64url')}.c`])('is NaN for %s', (header) => {
    expect(expiryOf(header)).toBeNaN();
  });
});
