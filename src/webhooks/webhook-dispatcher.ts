import { Inject, Injectable, Logger, Optional, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { SecretUnavailableError } from '../common/crypto/crypto.service';
import { CRYPTO, type TenantCrypto } from '../common/crypto/crypto.tokens';
import { CheckError } from '../common/outbound/check-error';
import { outboundRequest } from '../common/outbound/http-client';
import type { OutboundPolicy } from '../common/outbound/outbound-policy';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { CheckRunner } from '../verification/check-runner.service';
import { signatureHeader } from './webhook-signature';
import { newDeliveryId, signingBinding, WILDCARD } from './webhooks.service';
import { WebhooksRepository, type AttemptResult, type ClaimedAttempt, type NewAttempt, type PendingEvent, type WebhookPayload } from './webhooks.repository';

export interface WebhookDispatcherOptions {
  /** Time between passes when running on its own. Default 1000 ms. */
  intervalMs?: number;
  /** Start the interval on application bootstrap. Default: yes, except when NODE_ENV is test (tests call runOnce). */
  autoStart?: boolean;
  /** Bounds one POST to a receiver, connect to last byte. Default 5000 ms. */
  timeoutMs?: number;
  /** How long a claimed attempt stays with this instance before another may take it over. Default 30 000 ms (timeout + margin). */
  leaseMs?: number;
  /** Events fanned out, or attempts claimed, per transaction. Default 50. */
  batchSize?: number;
}

export const WEBHOOK_DISPATCHER_OPTIONS = Symbol('WEBHOOK_DISPATCHER_OPTIONS');

export interface DispatchStats {
  /** Events fanned out in this pass. */
  events: number;
  /** Attempts made in this pass. */
  attempts: number;
}

const MAX_BACKOFF_MS = 60 * 60 * 1000;
const MAX_BATCHES_PER_PASS = 20;
const USER_AGENT = 'Switchboard-Webhooks/1';

/** Full jitter: a uniform wait in [0, min(cap, base * 2^(attempt-1))]. */
export function backoffMs(baseMs: number, attempt: number): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.min(attempt - 1, 40));
  return Math.floor(Math.random() * (ceiling + 1));
}

/**
 * Webhook delivery from the outbox, safe with any number of instances:
 *
 * 1. fan-out: unfanned events are claimed with FOR UPDATE SKIP LOCKED; each
 *    becomes one pending attempt per matching enabled endpoint, and is marked
 *    fanned out, in the same transaction;
 * 2. delivery: due pending attempts are leased (next_attempt_at pushed ahead,
 *    again under SKIP LOCKED), POSTed through the SSRF policy, and their
 *    outcome recorded only if the lease is still ours. A failed attempt
 *    schedules the next one (exponential backoff, full jitter) while within 24 h
 *    of the first; a blocked destination is final.
 *
 * Each attempt is its own webhook_deliveries row, so the listing shows them all.
 */
@Injectable()
export class WebhookDispatcher implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(WebhookDispatcher.name);
  private readonly policy: OutboundPolicy;
  private readonly intervalMs: number;
  private readonly autoStart: boolean;
  private readonly timeoutMs: number;
  private readonly leaseMs: number;
  private readonly batchSize: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<DispatchStats> | null = null;

  constructor(
    private readonly dataSource: DataSource,
    private readonly webhooks: WebhooksRepository,
    checks: CheckRunner,
    @Inject(CRYPTO) private readonly crypto: TenantCrypto,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() @Inject(WEBHOOK_DISPATCHER_OPTIONS) options: WebhookDispatcherOptions | null = null,
  ) {
    this.policy = checks.policy;
    this.intervalMs = options?.intervalMs ?? 1000;
    this.autoStart = options?.autoStart ?? config.nodeEnv !== 'test';
    this.timeoutMs = options?.timeoutMs ?? 5000;
    this.leaseMs = options?.leaseMs ?? Math.max(30_000, this.timeoutMs + 25_000);
    this.batchSize = options?.batchSize ?? 50;
  }

  onApplicationBootstrap(): void {
    if (!this.autoStart) return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** Before the database closes (that happens in onApplicationShutdown): stop ticking and let a running pass finish. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** One pass: fan out every pending event, then make every attempt that is due. Tests call this directly. */
  async runOnce(): Promise<DispatchStats> {
    const events = await this.fanOut();
    const attempts = await this.deliverDue();
    return { events, attempts };
  }

  private async tick(): Promise<void> {
    if (this.running) return;
    this.running = this.runOnce();
    try {
      await this.running;
    } catch (error) {
      this.logger.warn({ errorName: error instanceof Error ? error.name : 'unknown' }, 'webhook dispatch pass failed; retrying on the next tick');
    } finally {
      this.running = null;
    }
  }

  private async fanOut(): Promise<number> {
    let total = 0;
    for (let batch = 0; batch < MAX_BATCHES_PER_PASS; batch++) {
      const count = await this.dataSource.transaction(async (m) => {
        const events = await this.webhooks.claimEvents(m, this.batchSize);
        if (events.length === 0) return 0;
        const endpoints = await this.webhooks.enabledEndpoints(m, [...new Set(events.map((e) => e.tenant_id))]);
        const attempts: NewAttempt[] = [];
        for (const event of events) {
          for (const endpoint of endpoints) {
            const subscribed = endpoint.events.includes(WILDCARD) || endpoint.events.includes(event.type);
            if (endpoint.tenant_id !== event.tenant_id || !subscribed || endpoint.created_at > event.occurred_at) continue;
            attempts.push({ tenantId: event.tenant_id, id: newDeliveryId(), endpointId: endpoint.id, eventId: event.id, eventType: event.type, payload: toPayload(event), attempt: 1, firstAttemptAt: null });
          }
        }
        await this.webhooks.insertFirstAttempts(m, attempts);
        await this.webhooks.markFannedOut(m, events);
        return events.length;
      });
      total += count;
      if (count < this.batchSize) break;
    }
    return total;
  }

  private async deliverDue(): Promise<number> {
    let total = 0;
    for (let batch = 0; batch < MAX_BATCHES_PER_PASS; batch++) {
      const claimed = await this.webhooks.claimDueAttempts(this.batchSize, this.leaseMs);
      await Promise.all(claimed.map((claim) => this.attempt(claim)));
      total += claimed.length;
      if (claimed.length < this.batchSize) break;
    }
    return total;
  }

  private async attempt(claim: ClaimedAttempt): Promise<void> {
    const started = performance.now();
    let outcome: Omit<AttemptResult, 'latencyMs'>;
    try {
      outcome = await this.send(claim);
    } catch (error) {
      outcome = this.failure(error, claim.attempt);
    }
    const result: AttemptResult = { ...outcome, latencyMs: Math.max(0, Math.round(performance.now() - started)) };
    try {
      await this.dataSource.transaction(async (m) => {
        const next = await this.webhooks.finishAttempt(m, claim, result);
        // Lease lost: another instance took the attempt over after ours ran out, and records its own.
        if (next === undefined) return;
        if (next !== null) {
          await this.webhooks.insertAttempt(
            m,
            {
              tenantId: claim.tenant_id,
              id: newDeliveryId(),
              endpointId: claim.endpoint_id,
              eventId: claim.event_id,
              eventType: claim.event_type,
              payload: claim.payload,
              attempt: claim.attempt + 1,
              firstAttemptAt: claim.first_attempt_at,
            },
            next,
          );
        }
        await this.webhooks.recordEndpointOutcome(m, claim.tenant_id, claim.endpoint_id, result.status === 'succeeded', result.error);
      });
    } catch (error) {
      // The lease runs out and the attempt is made again: at least once.
      this.logger.warn({ deliveryId: claim.id, errorName: error instanceof Error ? error.name : 'unknown' }, 'could not record a webhook attempt');
    }
  }

  private async send(claim: ClaimedAttempt): Promise<Omit<AttemptResult, 'latencyMs'>> {
    const secrets = await this.activeSecrets(claim);
    const body = serialize(claim.payload);
    const timestamp = Math.floor(Date.now() / 1000);
    const response = await outboundRequest(this.policy, {
      url: claim.url,
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        'webhook-id': claim.event_id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signatureHeader(secrets, claim.event_id, timestamp, body),
      },
      body,
      timeoutMs: this.timeoutMs,
      // A receiver answers; it does not send the signed body on elsewhere.
      maxRedirects: 0,
      maxResponseBytes: 4096,
    });
    if (response.status >= 200 && response.status < 300) {
      return { status: 'succeeded', responseStatus: response.status, error: null, retryInMs: null };
    }
    return {
      status: 'failed',
      responseStatus: response.status,
      error: { code: 'UPSTREAM_ERROR', message: `the receiver answered HTTP ${response.status}` },
      retryInMs: backoffMs(this.config.webhookRetryBaseMs, claim.attempt),
    };
  }

  /** Maps a failure to a value-free error; the next attempt follows unless the destination is refused. */
  private failure(error: unknown, attempt: number): Omit<AttemptResult, 'latencyMs'> {
    if (error instanceof CheckError) {
      if (error.code === 'BLOCKED_DESTINATION') return { status: 'blocked', responseStatus: null, error: { code: error.code, message: error.message }, retryInMs: null };
      const message = error.code === 'UPSTREAM_ERROR' && typeof error.details.redirects === 'number' ? 'the receiver answered with a redirect; redirects are not followed' : error.message;
      return this.retryable(attempt, error.code, message);
    }
    if (error instanceof SecretUnavailableError) return this.retryable(attempt, 'CONFIG_INVALID', 'the signing secret cannot be decrypted with the configured keys');
    this.logger.warn({ errorName: error instanceof Error ? error.name : 'unknown' }, 'webhook attempt failed unexpectedly');
    return this.retryable(attempt, 'UPSTREAM_ERROR', 'the delivery failed unexpectedly');
  }

  private retryable(attempt: number, code: string, message: string): Omit<AttemptResult, 'latencyMs'> {
    return { status: 'failed', responseStatus: null, error: { code, message }, retryInMs: backoffMs(this.config.webhookRetryBaseMs, attempt) };
  }

  /** The current secret, and the previous one while it is within 24 h of the rotation that replaced it. */
  private async activeSecrets(claim: ClaimedAttempt): Promise<string[]> {
    const signing = claim.secrets.signing ?? {};
    if (!signing.current) throw new SecretUnavailableError('signing.current');
    const secrets = [String(await this.crypto.decrypt(signingBinding(claim.tenant_id, claim.endpoint_id, 'current'), signing.current))];
    if (signing.previous && claim.previous_active) {
      secrets.push(String(await this.crypto.decrypt(signingBinding(claim.tenant_id, claim.endpoint_id, 'previous'), signing.previous)));
    }
    return secrets;
  }
}

function toPayload(event: PendingEvent): WebhookPayload {
  return { id: event.id, type: event.type, tenantId: event.tenant_id, occurredAt: event.occurred_at.toISOString(), data: event.data };
}

/** The body in a fixed field order (jsonb does not keep the order it was given). */
function serialize(payload: WebhookPayload): string {
  return JSON.stringify({ id: payload.id, type: payload.type, tenantId: payload.tenantId, occurredAt: payload.occurredAt, data: payload.data });
}
