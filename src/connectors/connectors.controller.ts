import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { IsString, Matches } from 'class-validator';
import { Authenticated } from '../common/auth/access.decorators';
import { pageScope, PageQueryDto, PageTokens } from '../common/http/pagination';
import { Problems } from '../common/http/problem';
import { CONNECTORS, findConnector } from './catalog';
import type { ConfigMetadata, ConnectorDefinition } from './connector.types';

export class ConnectorView {
  @ApiProperty() key: string;
  @ApiProperty() displayName: string;
  @ApiProperty() description: string;
  @ApiProperty() category: string;
  @ApiProperty({ type: 'object', additionalProperties: true }) configMetadata: ConfigMetadata;
  @ApiProperty() verifiable: boolean;
}

class ConnectorListView {
  @ApiProperty({ type: [ConnectorView] }) connectors: ConnectorView[];
  @ApiProperty({ type: String, nullable: true }) nextPageToken: string | null;
}

class ConnectorKeyParam {
  @IsString()
  @Matches(/^[a-z0-9-]{1,64}$/, { message: 'must be a connector key' })
  connector: string;
}

export function toConnectorView(c: ConnectorDefinition): ConnectorView {
  return { key: c.key, displayName: c.displayName, description: c.description, category: c.category, configMetadata: c.configMetadata, verifiable: c.verifiable };
}

@ApiTags('connectors')
@ApiBearerAuth()
@Controller('v1/connectors')
export class ConnectorsController {
  constructor(private readonly pageTokens: PageTokens) {}

  @Get()
  @Authenticated()
  @ApiOperation({ summary: 'The connector catalog (any authenticated caller)' })
  list(@Query() query: PageQueryDto): ConnectorListView {
    const scope = pageScope('connectors', '', {});
    const after = this.pageTokens.decode(scope, query.pageToken);
    const start = after === null ? 0 : Number(after);
    const size = query.pageSize ?? 50;
    const page = CONNECTORS.slice(start, start + size);
    const end = start + page.length;
    return { connectors: page.map(toConnectorView), nextPageToken: end < CONNECTORS.length ? this.pageTokens.encode(scope, String(end)) : null };
  }

  @Get(':connector')
  @Authenticated()
  @ApiOperation({ summary: 'One connector with its configMetadata' })
  get(@Param() { connector }: ConnectorKeyParam): ConnectorView {
    const found = findConnector(connector);
    if (!found) throw Problems.notFound(`Connector '${connector}' does not exist.`);
    return toConnectorView(found);
  }
}
