import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiParam, ApiProperty, ApiResponse, ApiTags } from '@nestjs/swagger';
import { IsString, Matches } from 'class-validator';
import { AnyTenantMember } from '../common/auth/access.decorators';
import { Idempotent } from '../common/http/idempotency.interceptor';
import { IntegrationIdParam, TenantIdParam } from '../common/http/params';
import { Problems } from '../common/http/problem';
import { Ctx, IfMatch, type RequestContext } from '../common/http/request-context';
import { CheckResultView } from '../integrations/dto/integration.dto';
import { AuthorizationView, ConnectionCreatedView, ConnectionListView, ConnectionView, CreateConnectionDto, ListConnectionsQueryDto, UpdateConnectionDto } from './dto/connection.dto';
import { ConnectionsService } from './connections.service';

const ID = /^[A-Za-z0-9_-]{1,64}$/;

class ConnectionIdParam extends TenantIdParam {
  @ApiProperty({ pattern: ID.source, example: 'conn_8d0c4f…' })
  @IsString()
  @Matches(ID, { message: 'must match ^[A-Za-z0-9_-]{1,64}$' })
  connection: string;
}

class ConnectionActionParam extends TenantIdParam {
  @IsString()
  @Matches(/^[A-Za-z0-9_-]{1,64}:[A-Za-z]{1,32}$/, { message: 'must be {connection}:{action}' })
  connectionAction: string;
}

/**
 * Every route admits any member of the tenant; the service applies the connection rules
 * (API.md): a personal connection exists only for its owner, an organizational one is read
 * by every member and changed by editors and admins.
 */
@ApiTags('connections')
@ApiBearerAuth()
@Controller('v1/tenants/:tenant')
export class ConnectionsController {
  constructor(private readonly connections: ConnectionsService) {}

  @Post('integrations/:integration/connections')
  @AnyTenantMember()
  @Idempotent()
  @ApiOperation({
    summary: 'Create a connection (any member: personal; editor: organizational); credentials and headers are write-only',
    description: 'For an OAUTH2_AUTHORIZATION_CODE auth method without tokens, the reply adds oauth2Required and authorizationUrl (PKCE S256, state valid 10 minutes).',
  })
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  @ApiResponse({ status: 201, type: ConnectionCreatedView })
  @ApiResponse({ status: 409, description: 'MAX_CONNECTIONS_PER_INTEGRATION reached.' })
  create(@Ctx() ctx: RequestContext, @Param() { tenant, integration }: IntegrationIdParam, @Body() dto: CreateConnectionDto): Promise<ConnectionCreatedView> {
    return this.connections.create(ctx, tenant, integration, dto);
  }

  @Get('connections')
  @AnyTenantMember()
  @ApiOperation({ summary: 'List connections, oldest first (viewer): organizational ones and the caller\'s own personal ones' })
  @ApiResponse({ status: 200, type: ConnectionListView })
  list(@Ctx() ctx: RequestContext, @Param() { tenant }: TenantIdParam, @Query() query: ListConnectionsQueryDto): Promise<ConnectionListView> {
    return this.connections.list(ctx, tenant, query);
  }

  @Get('connections/:connection')
  @AnyTenantMember()
  @ApiOperation({ summary: 'Read a connection; secrets read as ***REDACTED***; another user\'s personal connection is 404' })
  @ApiResponse({ status: 200, type: ConnectionView })
  get(@Ctx() ctx: RequestContext, @Param() { tenant, connection }: ConnectionIdParam): Promise<ConnectionView> {
    return this.connections.get(ctx, tenant, connection);
  }

  @Patch('connections/:connection')
  @AnyTenantMember()
  @ApiOperation({ summary: 'Update a connection (owner; organizational: editor); merge semantics per API.md; honours If-Match' })
  @ApiHeader({ name: 'If-Match', required: false })
  @ApiResponse({ status: 200, type: ConnectionView })
  update(@Ctx() ctx: RequestContext, @Param() { tenant, connection }: ConnectionIdParam, @Body() dto: UpdateConnectionDto, @IfMatch() ifMatch?: string): Promise<ConnectionView> {
    return this.connections.update(ctx, tenant, connection, dto, ifMatch);
  }

  @Delete('connections/:connection')
  @AnyTenantMember()
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a connection (owner; organizational: editor); honours If-Match' })
  @ApiHeader({ name: 'If-Match', required: false })
  async remove(@Ctx() ctx: RequestContext, @Param() { tenant, connection }: ConnectionIdParam, @IfMatch() ifMatch?: string): Promise<void> {
    await this.connections.remove(ctx, tenant, connection, ifMatch);
  }

  /** Custom methods (AIP-136): POST .../connections/{id}:verify and {id}:authorize. */
  @Post('connections/:connectionAction')
  @AnyTenantMember()
  @HttpCode(200)
  @ApiOperation({
    summary: 'POST {connection}:verify — check the connection for real; POST {connection}:authorize — a new OAuth2 consent URL (owner; organizational: editor)',
  })
  @ApiParam({ name: 'connectionAction', example: 'conn_8d0c4f:verify' })
  @ApiResponse({ status: 200, type: CheckResultView, description: ':verify' })
  @ApiResponse({ status: 200, type: AuthorizationView, description: ':authorize' })
  action(@Ctx() ctx: RequestContext, @Param() { tenant, connectionAction }: ConnectionActionParam): Promise<CheckResultView | AuthorizationView> {
    const [id, verb] = connectionAction.split(':');
    if (verb === 'verify') return this.connections.verify(ctx, tenant, id);
    if (verb === 'authorize') return this.connections.authorize(ctx, tenant, id);
    throw Problems.notFound(`Unknown action ':${verb}'.`);
  }
}
