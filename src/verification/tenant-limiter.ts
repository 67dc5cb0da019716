import { Problems } from '../common/http/problem';

/**
 * Per-tenant caps on checks (API.md: a few in flight, a bounded number a
 * minute), so the service cannot be used as a port scanner. Counted per
 * instance: with N instances the effective cap is N times this.
 */
export class TenantLimiter {
  private readonly inFlight = new Map<string, number>();
  private readonly recent = new Map<string, number[]>();
  private lastSweep = 0;

  constructor(
    private readonly maxInFlight: number,
    private readonly maxPerMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Reserves a slot or throws 429 with Retry-After; call the returned release when done. */
  acquire(tenantId: string): () => void {
    const now = this.now();
    this.sweep(now);
    const window = (this.recent.get(tenantId) ?? []).filter((t) => t > now - 60_000);
    if (window.length >= this.maxPerMinute) {
      this.recent.set(tenantId, window);
      throw Problems.tooManyRequests(`At most ${this.maxPerMinute} checks a minute per tenant.`, (window[0] + 60_000 - now) / 1000);
    }
    const running = this.inFlight.get(tenantId) ?? 0;
    if (running >= this.maxInFlight) throw Problems.tooManyRequests(`At most ${this.maxInFlight} checks at once per tenant.`, 1);
    window.push(now);
    this.recent.set(tenantId, window);
    this.inFlight.set(tenantId, running + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.inFlight.get(tenantId) ?? 1) - 1;
      if (left <= 0) this.inFlight.delete(tenantId);
      else this.inFlight.set(tenantId, left);
    };
  }

  /** How many tenants the limiter currently remembers (for tests and metrics). */
  get trackedTenants(): number {
    return this.recent.size;
  }

  /** Once a minute, forgets tenants with nothing in the window, so memory follows active tenants only. */
  private sweep(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [tenantId, times] of this.recent) {
      if (times.length === 0 || times[times.length - 1] <= now - 60_000) this.recent.delete(tenantId);
    }
  }
}
