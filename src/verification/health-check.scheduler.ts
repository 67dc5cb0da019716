import { randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Principal } from '../common/auth/principal';
import { ProblemException } from '../common/http/problem';
import type { RequestContext } from '../common/http/request-context';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ConnectionsRepository } from '../connections/connections.repository';
import { ConnectionsService } from '../connections/connections.service';
import { IntegrationsRepository } from '../integrations/integrations.repository';
import { IntegrationsService } from '../integrations/integrations.service';

/** How often an instance looks for due checks; the cadence of each row is HEALTH_CHECK_INTERVAL_MINUTES. */
const TICK_MS = 30_000;
/** Rows of each kind claimed per run. */
const BATCH_SIZE = 20;
/** Checks one instance runs at once; below the default per-tenant in-flight cap of 5. */
const CONCURRENCY = 4;
const SYSTEM_ACTOR = 'system:health-check';
const SYSTEM_PRINCIPAL: Principal = { sub: SYSTEM_ACTOR, tenantId: null, roles: ['platform-admin'], platformAdmin: true };

export interface HealthCheckCounts {
  claimed: number;
  checked: number;
  /** Over the tenant's check limits: given back for the next run. */
  skipped: number;
  failed: number;
}

export interface HealthCheckRunSummary {
  integrations: HealthCheckCounts;
  connections: HealthCheckCounts;
}

type Claim = { tenant_id: string; id: string };

/**
 * Re-verifies enabled integrations and connections every HEALTH_CHECK_INTERVAL_MINUTES.
 * Each run claims due rows with SELECT … FOR UPDATE SKIP LOCKED and moves their
 * next_check_at one interval ahead in the same short transaction (the lease and the next due
 * time in one), so concurrent runs on other instances claim disjoint sets; then it runs the
 * very check :verifyConfig / :verify run, which stores health, audits and emits events.
 */
@Injectable()
export class HealthCheckScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(HealthCheckScheduler.name);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<HealthCheckRunSummary> | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly dataSource: DataSource,
    private readonly integrationRows: IntegrationsRepository,
    private readonly connectionRows: ConnectionsRepository,
    private readonly integrations: IntegrationsService,
    private readonly connections: ConnectionsService,
  ) {}

  onApplicationBootstrap(): void {
    // Tests drive the scheduler through runOnce(); a timer there would race them.
    if (this.config.healthCheckIntervalMinutes > 0 && this.config.nodeEnv !== 'test') this.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stop();
    await this.running?.catch(() => undefined);
  }

  start(intervalMs = TICK_MS): void {
    this.stop();
    this.timer = setInterval(() => {
      if (this.running) return;
      this.runOnce().catch((error: unknown) => this.logger.warn({ errorName: error instanceof Error ? error.name : 'unknown' }, 'health check run failed'));
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One pass: claim due integrations and connections, check each exactly once. Safe to call on many instances at once. */
  runOnce(): Promise<HealthCheckRunSummary> {
    const run = this.run().finally(() => {
      if (this.running === run) this.running = null;
    });
    this.running = run;
    return run;
  }

  private async run(): Promise<HealthCheckRunSummary> {
    const interval = this.config.healthCheckIntervalMinutes;
    if (interval <= 0) return { integrations: emptyCounts(), connections: emptyCounts() };
    const ctx: RequestContext = { principal: SYSTEM_PRINCIPAL, actor: SYSTEM_ACTOR, requestId: `sched_${randomBytes(8).toString('hex')}` };

    const dueIntegrations = await this.dataSource.transaction((m) => this.integrationRows.claimDueForCheck(m, BATCH_SIZE, interval));
    const integrations = await this.checkAll(
      'integration',
      dueIntegrations,
      (row) => this.integrations.verify(ctx, row.tenant_id, row.id),
      (row) => this.integrationRows.releaseCheckClaim(row.tenant_id, row.id),
    );
    const dueConnections = await this.dataSource.transaction((m) => this.connectionRows.claimDueForCheck(m, BATCH_SIZE, interval));
    const connections = await this.checkAll(
      'connection',
      dueConnections,
      (row) => this.connections.verifyAsSystem(ctx, row.tenant_id, row.id),
      (row) => this.connectionRows.releaseCheckClaim(row.tenant_id, row.id),
    );
    return { integrations, connections };
  }

  private async checkAll(kind: string, claimed: Claim[], check: (row: Claim) => Promise<unknown>, release: (row: Claim) => Promise<void>): Promise<HealthCheckCounts> {
    const counts: HealthCheckCounts = { ...emptyCounts(), claimed: claimed.length };
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < claimed.length) {
        const row = claimed[next++];
        try {
          await check(row);
          counts.checked += 1;
        } catch (error) {
          if (error instanceof ProblemException && error.problem.status === 429) {
            counts.skipped += 1;
            await release(row).catch(() => undefined);
            continue;
          }
          counts.failed += 1;
          // A row deleted since the claim, or one with nothing to check (422), is expected; anything else is worth a warning.
          const expected = error instanceof ProblemException && error.problem.status < 500;
          const fields = { tenantId: row.tenant_id, [`${kind}Id`]: row.id, errorName: error instanceof Error ? error.name : 'unknown' };
          if (expected) this.logger.debug(fields, `periodic ${kind} check not run`);
          else this.logger.warn(fields, `periodic ${kind} check failed`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, claimed.length) }, worker));
    return counts;
  }
}

function emptyCounts(): HealthCheckCounts {
  return { claimed: 0, checked: 0, skipped: 0, failed: 0 };
}
