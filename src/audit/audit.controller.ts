import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { DataSource } from 'typeorm';
import { TenantRoleAtLeast } from '../common/auth/access.decorators';
import { pageScope, PageQueryDto, PageTokens } from '../common/http/pagination';
import { TenantIdParam } from '../common/http/params';
import { Problems } from '../common/http/problem';
import { AuditService, type AuditEventView } from './audit.service';

class AuditEventListView {
  @ApiProperty({ type: 'array', items: { type: 'object' } }) auditEvents: AuditEventView[];
  @ApiProperty({ type: String, nullable: true }) nextPageToken: string | null;
}

@ApiTags('audit')
@ApiBearerAuth()
@Controller('v1/tenants/:tenant/audit-events')
export class AuditController {
  constructor(
    private readonly audit: AuditService,
    private readonly pageTokens: PageTokens,
    private readonly dataSource: DataSource,
  ) {}

  @Get()
  @TenantRoleAtLeast('admin')
  @ApiOperation({ summary: 'The tenant audit log, newest first (admin)' })
  async list(@Param() { tenant }: TenantIdParam, @Query() query: PageQueryDto): Promise<AuditEventListView> {
    const exists: unknown[] = await this.dataSource.query('SELECT 1 FROM tenants WHERE id = $1', [tenant]);
    if (exists.length === 0) throw Problems.notFound(`Tenant '${tenant}' does not exist.`);
    const scope = pageScope('audit-events', tenant, {});
    const before = this.pageTokens.decode(scope, query.pageToken);
    const page = await this.audit.listPage(tenant, before, query.pageSize ?? 50);
    return { auditEvents: page.items, nextPageToken: page.more && page.lastSeq ? this.pageTokens.encode(scope, page.lastSeq) : null };
  }
}
