import { createHmac } from 'node:crypto';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { pageScope, PageQueryDto, PageTokens, type PageTokenSigner } from './pagination';
import { ProblemException } from './problem';

/** A real HMAC with a fixed key: tokens made by another key must not verify. */
function fakeSigner(key: string): PageTokenSigner & { calls: string[] } {
  const calls: string[] = [];
  const mac = (purpose: string, data: string) => createHmac('sha256', key).update(`${purpose}\n${data}`).digest('base64url');
  return {
    calls,
    sign: (purpose, data) => {
      calls.push(purpose);
      return mac(purpose, data);
    },
    verify: (purpose, data, signature) => mac(purpose, data) === signature,
  };
}

function badRequest(run: () => unknown): { status: number; field?: string } {
  try {
    run();
  } catch (error) {
    const problem = (error as ProblemException).problem;
    return { status: problem.status, field: problem.errors?.[0]?.field };
  }
  return { status: 0 };
}

describe('PageTokens', () => {
  const signer = fakeSigner('key-1');
  const tokens = new PageTokens(signer);
  const scope = pageScope('integrations', 'acme', { connector: 'github' });

  it('returns null for the first page', () => {
    expect(tokens.decode(scope, undefined)).toBeNull();
  });

  it('round-trips the last seq for the same list and filters, signing for the page-token purpose', () => {
    const token = tokens.encode(scope, '12345');
    expect(tokens.decode(scope, token)).toBe('12345');
    expect(signer.calls).toContain('page-token');
  });

  it('is opaque: the token does not show the scope in clear', () => {
    expect(tokens.encode(scope, '7')).not.toContain('acme');
  });

  it('refuses a token whose payload was edited (signature kept)', () => {
    const [, signature] = tokens.encode(scope, '10').split('.');
    const edited = Buffer.from(JSON.stringify({ s: '0', f: 'anything' })).toString('base64url');
    expect(badRequest(() => tokens.decode(scope, `${edited}.${signature}`))).toEqual({ status: 400, field: 'pageToken' });
  });

  it('refuses a token signed with another key', () => {
    const foreign = new PageTokens(fakeSigner('key-2')).encode(scope, '10');
    expect(badRequest(() => tokens.decode(scope, foreign)).status).toBe(400);
  });

  it.each(['', 'garbage', 'a.b', 'a.b.c', '.', '..'])('refuses the malformed token %p', (token) => {
    expect(badRequest(() => tokens.decode(scope, token)).status).toBe(400);
  });

  it('refuses a token made for another tenant, list or filters', () => {
    const token = tokens.encode(scope, '10');
    expect(badRequest(() => tokens.decode(pageScope('integrations', 'other', { connector: 'github' }), token)).status).toBe(400);
    expect(badRequest(() => tokens.decode(pageScope('connections', 'acme', { connector: 'github' }), token)).status).toBe(400);
    expect(badRequest(() => tokens.decode(pageScope('integrations', 'acme', { connector: 'slack' }), token)).status).toBe(400);
    expect(badRequest(() => tokens.decode(pageScope('integrations', 'acme', {}), token)).status).toBe(400);
  });

  it('refuses a correctly signed token whose seq is not a number', () => {
    const token = tokens.encode(scope, '1; DROP TABLE tenants');
    expect(badRequest(() => tokens.decode(scope, token)).status).toBe(400);
  });
});

describe('pageScope', () => {
  it('ignores filter order and undefined filters', () => {
    expect(pageScope('l', 't', { a: 1, b: 'x', c: undefined })).toBe(pageScope('l', 't', { b: 'x', a: 1 }));
  });

  it('does not confuse tenant and list names that concatenate alike', () => {
    expect(pageScope('ab', 'c', {})).not.toBe(pageScope('a', 'bc', {}));
  });
});

describe('PageQueryDto', () => {
  const errorsFor = (query: Record<string, unknown>) => validateSync(plainToInstance(PageQueryDto, query)).map((e) => e.property);

  it.each(['1', '50', '200'])('accepts pageSize=%s', (size) => {
    expect(errorsFor({ pageSize: size })).toEqual([]);
  });

  it.each(['0', '201', 'abc', '1.5', '-3'])('refuses pageSize=%s', (size) => {
    expect(errorsFor({ pageSize: size })).toEqual(['pageSize']);
  });

  it('refuses a pageToken longer than 512 characters', () => {
    expect(errorsFor({ pageToken: 'x'.repeat(513) })).toEqual(['pageToken']);
  });
});
