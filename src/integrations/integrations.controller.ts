import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { IsString, Matches } from 'class-validator';
import { TenantRoleAtLeast } from '../common/auth/access.decorators';
import { Idempotent } from '../common/http/idempotency.interceptor';
import { IntegrationIdParam, TenantIdParam } from '../common/http/params';
import { Problems } from '../common/http/problem';
import { Ctx, IfMatch, type RequestContext } from '../common/http/request-context';
import { CheckResultView, CreateIntegrationDto, IntegrationListView, IntegrationView, ListIntegrationsQueryDto, UpdateIntegrationDto } from './dto/integration.dto';
import { IntegrationsService } from './integrations.service';

class IntegrationActionParam {
  @IsString()
  @Matches(/^[A-Za-z0-9_-]{1,64}:[A-Za-z]{1,32}$/, { message: 'must be {integration}:{action}' })
  integrationAction: string;

  @IsString()
  @Matches(/^[A-Za-z0-9_-]{1,64}$/, { message: 'must match ^[A-Za-z0-9_-]{1,64}$' })
  tenant: string;
}

@ApiTags('integrations')
@ApiBearerAuth()
@Controller('v1/tenants/:tenant')
export class IntegrationsController {
  constructor(private readonly integrations: IntegrationsService) {}

  @Post('integrations')
  @TenantRoleAtLeast('editor')
  @Idempotent()
  @ApiOperation({ summary: 'Create an integration (editor); credentials and headers are write-only' })
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  @ApiResponse({ status: 201, type: IntegrationView })
  create(@Ctx() ctx: RequestContext, @Param() { tenant }: TenantIdParam, @Body() dto: CreateIntegrationDto): Promise<IntegrationView> {
    return this.integrations.create(ctx, tenant, dto);
  }

  @Post('integrations::testConfig')
  @TenantRoleAtLeast('editor')
  @HttpCode(200)
  @ApiOperation({ summary: 'Check a create body for real without storing it (editor)', operationId: 'integrations_testConfig' })
  @ApiResponse({ status: 200, type: CheckResultView })
  testConfig(@Ctx() ctx: RequestContext, @Param() { tenant }: TenantIdParam, @Body() dto: CreateIntegrationDto): Promise<CheckResultView> {
    return this.integrations.testConfig(ctx, tenant, dto);
  }

  @Get('integrations')
  @TenantRoleAtLeast('viewer')
  @ApiOperation({ summary: 'List integrations, oldest first (viewer); summary view unless view=FULL' })
  @ApiResponse({ status: 200, type: IntegrationListView })
  list(@Param() { tenant }: TenantIdParam, @Query() query: ListIntegrationsQueryDto): Promise<IntegrationListView> {
    return this.integrations.list(tenant, query);
  }

  @Get('integrations/:integration')
  @TenantRoleAtLeast('viewer')
  @ApiOperation({ summary: 'Read an integration (viewer); secrets read as ***REDACTED***' })
  @ApiResponse({ status: 200, type: IntegrationView })
  get(@Param() { tenant, integration }: IntegrationIdParam): Promise<IntegrationView> {
    return this.integrations.get(tenant, integration);
  }

  @Patch('integrations/:integration')
  @TenantRoleAtLeast('editor')
  @ApiOperation({ summary: 'Update an integration (editor); merge semantics per API.md; honours If-Match' })
  @ApiHeader({ name: 'If-Match', required: false })
  @ApiResponse({ status: 200, type: IntegrationView })
  update(@Ctx() ctx: RequestContext, @Param() { tenant, integration }: IntegrationIdParam, @Body() dto: UpdateIntegrationDto, @IfMatch() ifMatch?: string): Promise<IntegrationView> {
    return this.integrations.update(ctx, tenant, integration, dto, ifMatch);
  }

  @Delete('integrations/:integration')
  @TenantRoleAtLeast('editor')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete an integration and its connections (editor); honours If-Match' })
  @ApiHeader({ name: 'If-Match', required: false })
  async remove(@Ctx() ctx: RequestContext, @Param() { tenant, integration }: IntegrationIdParam, @IfMatch() ifMatch?: string): Promise<void> {
    await this.integrations.remove(ctx, tenant, integration, ifMatch);
  }

  /** Custom methods (AIP-136): POST .../integrations/{id}:verifyConfig. */
  @Post('integrations/:integrationAction')
  @TenantRoleAtLeast('editor')
  @HttpCode(200)
  @ApiOperation({ summary: 'POST {integration}:verifyConfig — check the stored credentials for real (editor)' })
  @ApiParam({ name: 'integrationAction', example: 'github-main:verifyConfig' })
  @ApiResponse({ status: 200, type: CheckResultView })
  action(@Ctx() ctx: RequestContext, @Param() { tenant, integrationAction }: IntegrationActionParam): Promise<CheckResultView> {
    const [id, verb] = integrationAction.split(':');
    if (verb !== 'verifyConfig') throw Problems.notFound(`Unknown action ':${verb}'.`);
    return this.integrations.verify(ctx, tenant, id);
  }
}
