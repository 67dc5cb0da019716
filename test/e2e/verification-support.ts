import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { LightMyRequestResponse } from 'fastify';
import { uniqueId } from '../support/test-app';
import { bearer, mintToken } from '../support/tokens';

/** What :verifyConfig and :testConfig answer (API.md, "Verification"). */
export interface CheckReply {
  status: 'healthy' | 'unhealthy';
  checkedAt: string;
  latencyMs: number;
  error: { code: string; message: string } | null;
  details: Record<string, unknown>;
}

/** A create body for an integration; `id` and `displayName` are filled in when left out. */
export interface IntegrationBody {
  id?: string;
  displayName?: string;
  connector: string;
  type?: 'SYSTEM' | 'CUSTOM';
  configMetadata?: Record<string, unknown>;
  parameters?: Record<string, unknown>;
  authMethod?: string;
  credentials?: Record<string, unknown>;
  headers?: Record<string, string>;
}

/**
 * One tenant of a running app, driven over HTTP as a client would: an editor
 * creates and checks integrations, an admin reads the audit log.
 */
export class TenantClient {
  private constructor(
    private readonly app: NestFastifyApplication,
    readonly tenant: string,
  ) {}

  static async create(app: NestFastifyApplication, prefix = 't'): Promise<TenantClient> {
    const tenant = uniqueId(prefix);
    const res = await app.inject({
      method: 'POST',
      url: '/v1/tenants',
      headers: bearer(mintToken({ roles: ['platform-admin'] })),
      payload: { id: tenant, displayName: `Tenant ${tenant}` },
    });
    if (res.statusCode !== 201) throw new Error(`creating tenant ${tenant} answered ${res.statusCode}: ${res.body}`);
    return new TenantClient(app, tenant);
  }

  headers(role: 'viewer' | 'editor' | 'admin' = 'editor') {
    return bearer(mintToken({ tenant: this.tenant, roles: [role] }));
  }

  async createIntegration(body: IntegrationBody): Promise<string> {
    const id = body.id ?? uniqueId('int');
    const res = await this.app.inject({
      method: 'POST',
      url: `/v1/tenants/${this.tenant}/integrations`,
      headers: this.headers('editor'),
      payload: { displayName: `Integration ${id}`, ...body, id },
    });
    if (res.statusCode !== 201) throw new Error(`creating integration ${id} answered ${res.statusCode}: ${res.body}`);
    return id;
  }

  verifyRaw(id: string, role: 'viewer' | 'editor' | 'admin' = 'editor'): Promise<LightMyRequestResponse> {
    return this.app.inject({ method: 'POST', url: `/v1/tenants/${this.tenant}/integrations/${id}:verifyConfig`, headers: this.headers(role) });
  }

  testConfigRaw(body: IntegrationBody, role: 'viewer' | 'editor' | 'admin' = 'editor'): Promise<LightMyRequestResponse> {
    const id = body.id ?? uniqueId('tested');
    return this.app.inject({
      method: 'POST',
      url: `/v1/tenants/${this.tenant}/integrations:testConfig`,
      headers: this.headers(role),
      payload: { displayName: `Tested ${id}`, ...body, id },
    });
  }

  /** :verifyConfig, expecting 200. */
  async verify(id: string): Promise<{ reply: CheckReply; raw: LightMyRequestResponse }> {
    const raw = await this.verifyRaw(id);
    if (raw.statusCode !== 200) throw new Error(`:verifyConfig of ${id} answered ${raw.statusCode}: ${raw.body}`);
    return { reply: raw.json<CheckReply>(), raw };
  }

  /** :testConfig, expecting 200. */
  async testConfig(body: IntegrationBody): Promise<{ reply: CheckReply; raw: LightMyRequestResponse }> {
    const raw = await this.testConfigRaw(body);
    if (raw.statusCode !== 200) throw new Error(`:testConfig answered ${raw.statusCode}: ${raw.body}`);
    return { reply: raw.json<CheckReply>(), raw };
  }

  /** Stores the body, then verifies it: the same check both ways. */
  async createAndVerify(body: IntegrationBody): Promise<CheckReply & { id: string }> {
    const id = await this.createIntegration(body);
    const { reply } = await this.verify(id);
    return { ...reply, id };
  }

  getIntegrationRaw(id: string): Promise<LightMyRequestResponse> {
    return this.app.inject({ method: 'GET', url: `/v1/tenants/${this.tenant}/integrations/${id}`, headers: this.headers('viewer') });
  }

  patchIntegration(id: string, payload: Record<string, unknown>): Promise<LightMyRequestResponse> {
    return this.app.inject({ method: 'PATCH', url: `/v1/tenants/${this.tenant}/integrations/${id}`, headers: this.headers('editor'), payload });
  }

  auditRaw(): Promise<LightMyRequestResponse> {
    return this.app.inject({ method: 'GET', url: `/v1/tenants/${this.tenant}/audit-events?pageSize=200`, headers: this.headers('admin') });
  }

  async auditEvents(): Promise<Array<Record<string, unknown>>> {
    const res = await this.auditRaw();
    if (res.statusCode !== 200) throw new Error(`audit log answered ${res.statusCode}: ${res.body}`);
    return res.json<{ auditEvents: Array<Record<string, unknown>> }>().auditEvents;
  }
}

/** The spellings of a secret that must not appear anywhere a client can read. */
export function secretForms(secret: string): string[] {
  const utf8 = Buffer.from(secret, 'utf8');
  return [secret, utf8.toString('base64'), utf8.toString('base64').replace(/=+$/, ''), utf8.toString('base64url'), utf8.toString('hex'), encodeURIComponent(secret)];
}

/** Fails naming the form found, never printing a whole body full of noise. */
export function expectNoTrace(text: string, secrets: string[], where: string): void {
  for (const secret of secrets) {
    for (const form of secretForms(secret)) {
      if (text.includes(form)) throw new Error(`${where} contains a form of a secret (${form.length} chars)`);
    }
  }
}
