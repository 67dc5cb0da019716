import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { TenantRoleAtLeast } from '../common/auth/access.decorators';
import { Idempotent } from '../common/http/idempotency.interceptor';
import { TenantIdParam } from '../common/http/params';
import { Problems } from '../common/http/problem';
import { Ctx, IfMatch, type RequestContext } from '../common/http/request-context';
import {
  CreateWebhookEndpointDto,
  ListWebhookDeliveriesQueryDto,
  ListWebhookEndpointsQueryDto,
  UpdateWebhookEndpointDto,
  WebhookDeliveryActionParam,
  WebhookDeliveryListView,
  WebhookDeliveryView,
  WebhookEndpointActionParam,
  WebhookEndpointListView,
  WebhookEndpointParam,
  WebhookEndpointView,
} from './dto/webhook.dto';
import { WebhooksService } from './webhooks.service';

@ApiTags('webhooks')
@ApiBearerAuth()
@Controller('v1/tenants/:tenant')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post('webhook-endpoints')
  @TenantRoleAtLeast('admin')
  @Idempotent()
  @ApiOperation({ summary: 'Create a webhook endpoint (admin); the reply is the only one that shows the signing secret' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'A replayed reply shows the secret as ***REDACTED***.' })
  @ApiResponse({ status: 201, type: WebhookEndpointView })
  create(@Ctx() ctx: RequestContext, @Param() { tenant }: TenantIdParam, @Body() dto: CreateWebhookEndpointDto): Promise<WebhookEndpointView> {
    return this.webhooks.create(ctx, tenant, dto);
  }

  @Get('webhook-endpoints')
  @TenantRoleAtLeast('admin')
  @ApiOperation({ summary: 'List webhook endpoints, oldest first (admin)' })
  @ApiResponse({ status: 200, type: WebhookEndpointListView })
  list(@Param() { tenant }: TenantIdParam, @Query() query: ListWebhookEndpointsQueryDto): Promise<WebhookEndpointListView> {
    return this.webhooks.list(tenant, query);
  }

  @Get('webhook-endpoints/:endpoint')
  @TenantRoleAtLeast('admin')
  @ApiOperation({ summary: 'Read a webhook endpoint (admin); the secret reads ***REDACTED***' })
  @ApiResponse({ status: 200, type: WebhookEndpointView })
  get(@Param() { tenant, endpoint }: WebhookEndpointParam): Promise<WebhookEndpointView> {
    return this.webhooks.get(tenant, endpoint);
  }

  @Patch('webhook-endpoints/:endpoint')
  @TenantRoleAtLeast('admin')
  @ApiOperation({ summary: 'Update a webhook endpoint (admin); events are replaced whole; honours If-Match' })
  @ApiHeader({ name: 'If-Match', required: false })
  @ApiResponse({ status: 200, type: WebhookEndpointView })
  update(@Ctx() ctx: RequestContext, @Param() { tenant, endpoint }: WebhookEndpointParam, @Body() dto: UpdateWebhookEndpointDto, @IfMatch() ifMatch?: string): Promise<WebhookEndpointView> {
    return this.webhooks.update(ctx, tenant, endpoint, dto, ifMatch);
  }

  @Delete('webhook-endpoints/:endpoint')
  @TenantRoleAtLeast('admin')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a webhook endpoint and its delivery history (admin); honours If-Match' })
  @ApiHeader({ name: 'If-Match', required: false })
  async remove(@Ctx() ctx: RequestContext, @Param() { tenant, endpoint }: WebhookEndpointParam, @IfMatch() ifMatch?: string): Promise<void> {
    await this.webhooks.remove(ctx, tenant, endpoint, ifMatch);
  }

  /** Custom method (AIP-136): POST .../webhook-endpoints/{endpoint}:rotateSecret. */
  @Post('webhook-endpoints/:endpointAction')
  @TenantRoleAtLeast('admin')
  @HttpCode(200)
  @ApiOperation({ summary: 'POST {endpoint}:rotateSecret — a new signing secret, shown in this reply only; the old one signs beside it for 24 h (admin)' })
  @ApiParam({ name: 'endpointAction', example: 'whep_3f9c0a1b2c3d4e5f6a7b8c9d:rotateSecret' })
  @ApiHeader({ name: 'If-Match', required: false })
  @ApiResponse({ status: 200, type: WebhookEndpointView })
  action(@Ctx() ctx: RequestContext, @Param() { tenant, endpointAction }: WebhookEndpointActionParam, @IfMatch() ifMatch?: string): Promise<WebhookEndpointView> {
    const [id, verb] = endpointAction.split(':');
    if (verb !== 'rotateSecret') throw Problems.notFound(`Unknown action ':${verb}'.`);
    return this.webhooks.rotateSecret(ctx, tenant, id, ifMatch);
  }

  @Get('webhook-endpoints/:endpoint/deliveries')
  @TenantRoleAtLeast('admin')
  @ApiOperation({ summary: 'Delivery attempts of a webhook endpoint, newest first (admin)' })
  @ApiResponse({ status: 200, type: WebhookDeliveryListView })
  listDeliveries(@Param() { tenant, endpoint }: WebhookEndpointParam, @Query() query: ListWebhookDeliveriesQueryDto): Promise<WebhookDeliveryListView> {
    return this.webhooks.listDeliveries(tenant, endpoint, query);
  }

  /** Custom method (AIP-136): POST .../deliveries/{delivery}:retry. */
  @Post('webhook-endpoints/:endpoint/deliveries/:deliveryAction')
  @TenantRoleAtLeast('admin')
  @HttpCode(202)
  @ApiOperation({ summary: 'POST {delivery}:retry — send the event again, whatever its earlier outcome (admin); answers with the scheduled attempt' })
  @ApiParam({ name: 'deliveryAction', example: 'whdl_0c1d2e3f4a5b6c7d8e9f0a1b:retry' })
  @ApiResponse({ status: 202, type: WebhookDeliveryView })
  deliveryAction(@Ctx() ctx: RequestContext, @Param() { tenant, endpoint, deliveryAction }: WebhookDeliveryActionParam): Promise<WebhookDeliveryView> {
    const [id, verb] = deliveryAction.split(':');
    if (verb !== 'retry') throw Problems.notFound(`Unknown action ':${verb}'.`);
    return this.webhooks.retryDelivery(ctx, tenant, endpoint, id);
  }
}
