import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { AnyTenantMember, PlatformAdminOnly } from '../common/auth/access.decorators';
import { Idempotent } from '../common/http/idempotency.interceptor';
import { PageQueryDto } from '../common/http/pagination';
import { Ctx, IfMatch, type RequestContext } from '../common/http/request-context';
import { TenantIdParam } from '../common/http/params';
import { CreateTenantDto, TenantListView, TenantView, UpdateTenantDto } from './dto/tenant.dto';
import { TenantsService } from './tenants.service';

@ApiTags('tenants')
@ApiBearerAuth()
@Controller('v1/tenants')
export class TenantsController {
  constructor(private readonly tenants: TenantsService) {}

  @Post()
  @PlatformAdminOnly()
  @Idempotent()
  @ApiOperation({ summary: 'Create a tenant (platform-admin)' })
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  @ApiResponse({ status: 201, type: TenantView })
  create(@Ctx() ctx: RequestContext, @Body() dto: CreateTenantDto): Promise<TenantView> {
    return this.tenants.create(ctx, dto);
  }

  @Get()
  @PlatformAdminOnly()
  @ApiOperation({ summary: 'List tenants, oldest first (platform-admin)' })
  @ApiResponse({ status: 200, type: TenantListView })
  list(@Query() query: PageQueryDto): Promise<TenantListView> {
    return this.tenants.list(query.pageSize ?? 50, query.pageToken);
  }

  @Get(':tenant')
  @AnyTenantMember()
  @ApiOperation({ summary: 'Read a tenant (members and platform-admins)' })
  @ApiResponse({ status: 200, type: TenantView })
  get(@Ctx() ctx: RequestContext, @Param() { tenant }: TenantIdParam): Promise<TenantView> {
    return this.tenants.get(ctx, tenant);
  }

  @Patch(':tenant')
  @PlatformAdminOnly()
  @ApiOperation({ summary: 'Update a tenant (platform-admin); honours If-Match' })
  @ApiHeader({ name: 'If-Match', required: false })
  @ApiResponse({ status: 200, type: TenantView })
  update(@Ctx() ctx: RequestContext, @Param() { tenant }: TenantIdParam, @Body() dto: UpdateTenantDto, @IfMatch() ifMatch?: string): Promise<TenantView> {
    return this.tenants.update(ctx, tenant, dto, ifMatch);
  }

  @Delete(':tenant')
  @PlatformAdminOnly()
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a tenant and everything it owns (platform-admin)' })
  @ApiHeader({ name: 'If-Match', required: false })
  async remove(@Ctx() ctx: RequestContext, @Param() { tenant }: TenantIdParam, @IfMatch() ifMatch?: string): Promise<void> {
    await this.tenants.remove(ctx, tenant, ifMatch);
  }
}
