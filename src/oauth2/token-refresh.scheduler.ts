import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ConnectionsRepository } from '../connections/connections.repository';
import { IntegrationsRepository } from '../integrations/integrations.repository';
import { OAuth2StatesRepository } from './oauth2-states.repository';
import { TokenRefresher } from './token-refresher.service';

export const TOKEN_REFRESH_SCHEDULE = Symbol('TOKEN_REFRESH_SCHEDULE');

export interface TokenRefreshSchedule {
  /** 0 disables the timer (tests start it explicitly or call runOnce). */
  intervalMs: number;
  /** Connections claimed per run. */
  batchSize: number;
  /** Tokens expiring within this many seconds are due. */
  horizonSeconds: number;
}

/** How long a claim keeps other instances off a connection while this one refreshes it. */
const CLAIM_LEASE_SECONDS = 120;
const SYSTEM_ACTOR = 'system:token-refresher';

export interface RefreshRunSummary {
  claimed: number;
  refreshed: number;
  failed: number;
  skipped: number;
}

/**
 * Refreshes tokens before they expire, so a check rarely has to. Each run claims due
 * connections with SELECT … FOR UPDATE SKIP LOCKED and leases them (next_refresh_at moves
 * past now) in one short transaction, so concurrent runs on other instances claim disjoint
 * sets; then it refreshes each under its own row lock, exactly like a check would, so a
 * check racing the scheduler still makes one token call between them.
 */
@Injectable()
export class TokenRefreshScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(TokenRefreshScheduler.name);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<RefreshRunSummary> | null = null;

  constructor(
    @Inject(TOKEN_REFRESH_SCHEDULE) private readonly schedule: TokenRefreshSchedule,
    private readonly dataSource: DataSource,
    private readonly connections: ConnectionsRepository,
    private readonly integrations: IntegrationsRepository,
    private readonly states: OAuth2StatesRepository,
    private readonly refresher: TokenRefresher,
  ) {}

  onApplicationBootstrap(): void {
    if (this.schedule.intervalMs > 0) this.start();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stop();
    await this.running?.catch(() => undefined);
  }

  start(intervalMs = this.schedule.intervalMs || 30_000): void {
    this.stop();
    this.timer = setInterval(() => {
      if (this.running) return;
      this.runOnce().catch((error: unknown) => this.logger.warn({ errorName: error instanceof Error ? error.name : 'unknown' }, 'token refresh run failed'));
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One pass: claim due connections, refresh each exactly once. Safe to call on many instances at once. */
  runOnce(): Promise<RefreshRunSummary> {
    const run = this.run().finally(() => {
      if (this.running === run) this.running = null;
    });
    this.running = run;
    return run;
  }

  private async run(): Promise<RefreshRunSummary> {
    const claimed = await this.dataSource.transaction(async (m) => {
      const rows = await this.connections.claimDueForRefresh(m, this.schedule.batchSize, this.schedule.horizonSeconds);
      if (rows.length > 0) {
        await m.query(
          `UPDATE connections SET next_refresh_at = now() + make_interval(secs => $2)
            WHERE (tenant_id, id) IN (SELECT * FROM unnest($1::text[], $3::text[]))`,
          [rows.map((r) => r.tenant_id), CLAIM_LEASE_SECONDS, rows.map((r) => r.id)],
        );
      }
      return rows;
    });
    const summary: RefreshRunSummary = { claimed: claimed.length, refreshed: 0, failed: 0, skipped: 0 };
    for (const row of claimed) {
      try {
        const integration = await this.integrations.findById(row.tenant_id, row.integration_id);
        if (!integration) {
          summary.skipped += 1;
          continue;
        }
        const outcome = await this.dataSource.transaction(async (m) => {
          const locked = await this.connections.lockById(m, row.tenant_id, row.id);
          // Refreshed (or re-authorized) by a check since the claim: nothing to do.
          if (!locked || locked.credentials_version !== row.credentials_version) return 'skipped' as const;
          const due = locked.refresh_failures > 0 || (locked.token_expires_at !== null && locked.token_expires_at.getTime() <= Date.now() + this.schedule.horizonSeconds * 1000);
          if (!due) {
            await m.query(`UPDATE connections SET next_refresh_at = NULL WHERE tenant_id = $1 AND id = $2`, [locked.tenant_id, locked.id]);
            return 'skipped' as const;
          }
          const result = await this.refresher.refreshLocked(m, locked, integration, { actor: SYSTEM_ACTOR, requestId: null });
          return result.ok && result.refreshed ? ('refreshed' as const) : ('failed' as const);
        });
        summary[outcome] += 1;
      } catch (error) {
        summary.failed += 1;
        this.logger.warn({ connectionId: row.id, errorName: error instanceof Error ? error.name : 'unknown' }, 'token refresh failed');
      }
    }
    await this.states.deleteExpired(3600).catch(() => 0);
    return summary;
  }
}
