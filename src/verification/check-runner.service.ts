import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { CheckError } from '../common/outbound/check-error';
import { OutboundConnections } from '../common/outbound/connection-pool';
import { OutboundPolicy } from '../common/outbound/outbound-policy';
import { createScrubber } from '../common/outbound/scrub';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import type { CheckContext, CheckOutcome, ConnectorDefinition } from '../connectors/connector.types';
import { AppMetrics } from '../ops/metrics';
import { TenantLimiter } from './tenant-limiter';

export interface CheckResult {
  status: 'healthy' | 'unhealthy';
  checkedAt: string;
  latencyMs: number;
  error: { code: string; message: string } | null;
  details: Record<string, unknown>;
}

const CHECK_ENDED = new Error('the check has ended');

export type CheckInput = Omit<CheckContext, 'outbound' | 'connections' | 'signal' | 'timeoutMs'>;

/**
 * Runs one connector check: per-tenant limits, a hard deadline, the SSRF
 * policy, and scrubbing of every secret value out of whatever comes back (an
 * upstream may echo a credential in its error). HTTP checks reuse keep-alive
 * connections to the same approved destination (docs/connectors.md).
 */
@Injectable()
export class CheckRunner implements OnApplicationShutdown {
  private readonly logger = new Logger(CheckRunner.name);
  private readonly limiter: TenantLimiter;
  private readonly outbound: OutboundPolicy;
  private readonly connections = new OutboundConnections();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: AppMetrics,
  ) {
    this.limiter = new TenantLimiter(config.verify.maxInFlightPerTenant, config.verify.maxPerMinutePerTenant);
    this.outbound = new OutboundPolicy(config.outbound);
  }

  get policy(): OutboundPolicy {
    return this.outbound;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.connections.close();
  }

  /** Throws 429 before doing anything when the tenant is over its limits. */
  reserve(tenantId: string): () => void {
    return this.limiter.acquire(tenantId);
  }

  async run(connector: ConnectorDefinition, input: CheckInput, secrets: unknown[]): Promise<CheckResult> {
    const timeoutMs = this.config.verify.timeoutMs;
    const controller = new AbortController();
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    let outcome: CheckOutcome;
    try {
      outcome = await Promise.race([
        connector.check({ ...input, outbound: this.outbound, connections: this.connections, signal: controller.signal, timeoutMs }),
        new Promise<CheckOutcome>((resolve) => {
          // A grace period beyond the connector's own deadline: a check that ignores it still ends.
          timer = setTimeout(() => {
            controller.abort();
            resolve({ status: 'unhealthy', error: { code: 'TIMEOUT', message: `no answer within ${timeoutMs} ms` }, details: {} });
          }, timeoutMs + 250);
        }),
      ]);
    } catch (error) {
      outcome =
        error instanceof CheckError
          ? { status: 'unhealthy', error: { code: error.code, message: error.message }, details: error.details }
          : { status: 'unhealthy', error: { code: 'UPSTREAM_ERROR', message: 'the check failed unexpectedly' }, details: {} };
      if (!(error instanceof CheckError)) this.logger.warn({ connector: connector.key, errorName: error instanceof Error ? error.name : 'unknown' }, 'check threw');
    } finally {
      clearTimeout(timer);
      // Ends whatever of the check still runs. One shared reason: abort() without one builds a
      // DOMException (and its stack) on every check.
      controller.abort(CHECK_ENDED);
    }
    const latencyMs = Math.max(0, Math.round(performance.now() - started));
    const scrubber = createScrubber(secrets);
    const result: CheckResult = {
      status: outcome.status,
      checkedAt: new Date().toISOString(),
      latencyMs,
      error: outcome.error ? { code: outcome.error.code, message: scrubber.text(outcome.error.message) } : null,
      details: scrubber.deep(outcome.details ?? {}),
    };
    this.metrics.verifications.inc({ connector: connector.key, status: result.status, code: result.error?.code ?? 'none' });
    return result;
  }
}
