import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { roleIn } from '../common/auth/principal';
import { CRYPTO, type TenantCrypto } from '../common/crypto/crypto.tokens';
import { assertIfMatch, newEtag } from '../common/http/etag';
import { isUniqueViolation, mergePatch } from '../common/http/merge-patch';
import { pageScope, PageTokens } from '../common/http/pagination';
import { Problems } from '../common/http/problem';
import type { RequestContext } from '../common/http/request-context';
import type { CreateTenantDto, TenantListView, TenantView, UpdateTenantDto } from './dto/tenant.dto';
import { TenantsRepository, type TenantRow } from './tenants.repository';

function toView(row: TenantRow): TenantView {
  return {
    id: row.id,
    displayName: row.display_name,
    description: row.description,
    metadata: row.metadata,
    etag: row.etag,
    createdAt: row.created_at.toISOString(),
    modifiedAt: row.modified_at.toISOString(),
  };
}

@Injectable()
export class TenantsService {
  private readonly logger = new Logger(TenantsService.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly tenants: TenantsRepository,
    private readonly audit: AuditService,
    private readonly pageTokens: PageTokens,
    @Inject(CRYPTO) private readonly crypto: TenantCrypto,
  ) {}

  async create(ctx: RequestContext, dto: CreateTenantDto): Promise<TenantView> {
    try {
      return await this.dataSource.transaction(async (m) => {
        const row = await this.tenants.insert(m, {
          id: dto.id,
          displayName: dto.displayName,
          description: dto.description ?? '',
          metadata: dto.metadata ?? {},
          etag: newEtag(),
        });
        await this.audit.record(m, { tenantId: row.id, actor: ctx.actor, action: 'tenant.created', resourceType: 'tenant', resourceId: row.id, outcome: 'success', requestId: ctx.requestId });
        const view = toView(row);
        await ctx.idempotency?.store(m, view);
        return view;
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw Problems.conflict(`A tenant with id '${dto.id}' already exists.`);
      throw error;
    }
  }

  async list(pageSize: number, pageToken: string | undefined): Promise<TenantListView> {
    const scope = pageScope('tenants', '', {});
    const after = this.pageTokens.decode(scope, pageToken);
    const rows = await this.tenants.listPage(after, pageSize + 1);
    const page = rows.slice(0, pageSize);
    return {
      tenants: page.map(toView),
      nextPageToken: rows.length > pageSize ? this.pageTokens.encode(scope, page[page.length - 1].seq) : null,
    };
  }

  /** Members of the tenant and platform-admins see it; anyone else gets the same 404 as for a missing one. */
  async get(ctx: RequestContext, id: string): Promise<TenantView> {
    if (roleIn(ctx.principal, id) === null) throw Problems.forbidden('The token does not act in this tenant.');
    const row = await this.tenants.findById(id);
    if (!row) throw notFound(id);
    return toView(row);
  }

  async update(ctx: RequestContext, id: string, dto: UpdateTenantDto, ifMatch: string | undefined): Promise<TenantView> {
    return this.dataSource.transaction(async (m) => {
      const current = await this.tenants.lockById(m, id);
      if (!current) throw notFound(id);
      assertIfMatch(ifMatch, current.etag);
      const row = await this.tenants.update(m, id, {
        displayName: dto.displayName ?? current.display_name,
        description: dto.description === null ? '' : (dto.description ?? current.description),
        metadata: dto.metadata === null ? {} : mergePatch(current.metadata, dto.metadata),
        etag: newEtag(),
      });
      await this.audit.record(m, { tenantId: id, actor: ctx.actor, action: 'tenant.updated', resourceType: 'tenant', resourceId: id, outcome: 'success', requestId: ctx.requestId });
      return toView(row);
    });
  }

  async remove(ctx: RequestContext, id: string, ifMatch: string | undefined): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      const current = await this.tenants.lockById(m, id);
      if (!current) throw notFound(id);
      assertIfMatch(ifMatch, current.etag);
      await this.tenants.deleteCascade(m, id);
    });
    // The tenant's own log went with it, and a tenant that reuses the id must start clean,
    // so the deletion is recorded in the service log instead.
    this.logger.log({ action: 'tenant.deleted', tenantId: id, actor: ctx.actor, requestId: ctx.requestId }, 'tenant deleted');
    // Its data keys went with the rows (crypto-shredding); drop any cached copy too.
    this.crypto.forgetTenant(id);
  }

  async exists(id: string): Promise<boolean> {
    return this.tenants.exists(id);
  }

  /** 404 unless the tenant exists; used by every tenant-scoped feature. */
  async assertExists(id: string): Promise<void> {
    if (!(await this.exists(id))) throw notFound(id);
  }
}

function notFound(id: string) {
  return Problems.notFound(`Tenant '${id}' does not exist.`);
}
