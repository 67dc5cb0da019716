import { ProblemException } from '../common/http/problem';
import { TenantLimiter } from './tenant-limiter';

function rejection(fn: () => unknown): { status: number; retryAfter: string | undefined } {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof ProblemException)) throw error;
    return { status: error.problem.status, retryAfter: error.problem.headers?.['Retry-After'] };
  }
  throw new Error('expected a rejection');
}

describe('TenantLimiter', () => {
  let now: number;
  const clock = () => now;

  beforeEach(() => {
    now = 1_000_000;
  });

  it('refuses a check past the in-flight cap until one is released, per tenant', () => {
    const limiter = new TenantLimiter(1, 100, clock);
    const release = limiter.acquire('a');

    expect(rejection(() => limiter.acquire('a'))).toEqual({ status: 429, retryAfter: '1' });
    expect(() => limiter.acquire('b')()).not.toThrow();
    release();
    release();
    expect(() => limiter.acquire('a')).not.toThrow();
  });

  it('refuses the check past the per-minute cap with Retry-After until the oldest leaves the window', () => {
    const limiter = new TenantLimiter(10, 3, clock);
    for (let i = 0; i < 3; i++) {
      limiter.acquire('a')();
      now += 10_000;
    }

    expect(rejection(() => limiter.acquire('a'))).toEqual({ status: 429, retryAfter: '30' });
    expect(() => limiter.acquire('b')()).not.toThrow();
    now += 30_001;
    expect(() => limiter.acquire('a')()).not.toThrow();
  });

  it('does not count a refused check against the minute', () => {
    const limiter = new TenantLimiter(1, 2, clock);
    const release = limiter.acquire('a');
    for (let i = 0; i < 5; i++) expect(rejection(() => limiter.acquire('a')).status).toBe(429);
    release();

    expect(() => limiter.acquire('a')()).not.toThrow();
  });

  it('forgets tenants that have been quiet for a minute', () => {
    const limiter = new TenantLimiter(5, 5, clock);
    for (let i = 0; i < 100; i++) limiter.acquire(`tenant-${i}`)();
    expect(limiter.trackedTenants).toBe(100);

    now += 60_001;
    limiter.acquire('active')();

    expect(limiter.trackedTenants).toBe(1);
  });
});
