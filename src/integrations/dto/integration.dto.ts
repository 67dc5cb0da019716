import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsIn, IsObject, IsOptional, IsString, Length, Matches, MaxLength, ValidateNested } from 'class-validator';
import { IsJsonObject, IsStringRecord } from '../../common/validation/json-object.validator';
import { ConfigMetadataDto } from '../../connectors/config-metadata.dto';
import { fastQueryRules, oneOf, textUpTo } from '../../common/http/fast-query';
import { PAGE_QUERY_RULES, PageQueryDto } from '../../common/http/pagination';

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const TAG = /^[A-Za-z0-9_.:-]{1,64}$/;

const SECRET_DOC = 'WRITE-ONLY: encrypted at rest, read back as ***REDACTED***. On PATCH merged per key: null removes, "***REDACTED***" keeps.';

export class CreateIntegrationDto {
  @ApiProperty({ pattern: ID.source, example: 'github-main' })
  @IsString()
  @Matches(ID, { message: 'must match ^[A-Za-z0-9_-]{1,64}$' })
  id: string;

  @ApiProperty({ minLength: 1, maxLength: 100, example: 'GitHub (main org)' })
  @IsString()
  @Length(1, 100)
  displayName: string;

  @ApiPropertyOptional({ maxLength: 500 })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string;

  @ApiProperty({ example: 'github', description: 'A connector key from GET /v1/connectors.' })
  @IsString()
  @Length(1, 64)
  connector: string;

  @ApiPropertyOptional({ enum: ['SYSTEM', 'CUSTOM'], default: 'SYSTEM' })
  @IsOptional()
  @IsIn(['SYSTEM', 'CUSTOM'])
  type?: 'SYSTEM' | 'CUSTOM';

  @ApiPropertyOptional({ type: ConfigMetadataDto, description: 'Required for CUSTOM; SYSTEM integrations use the catalog metadata when omitted.' })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => ConfigMetadataDto)
  configMetadata?: ConfigMetadataDto;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, example: { baseUrl: 'https://api.github.com' }, description: 'Validated against parametersMetadata; parameters marked secret are write-only.' })
  @IsOptional()
  @IsJsonObject({ maxBytes: 32768, maxKeys: 100 })
  parameters?: Record<string, unknown>;

  @ApiPropertyOptional({ example: 'pat', description: 'An authMetadata id.' })
  @IsOptional()
  @IsString()
  @Length(1, 64)
  authMethod?: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' }, writeOnly: true, example: { token: '<token>' }, description: SECRET_DOC })
  @IsOptional()
  @IsJsonObject({ maxBytes: 32768, maxKeys: 50, maxDepth: 3 })
  credentials?: Record<string, unknown>;

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' }, writeOnly: true, example: { 'X-Extra-Auth': '<value>' }, description: `Extra headers sent on every call. ${SECRET_DOC}` })
  @IsOptional()
  @IsStringRecord({ maxKeys: 50, maxValueLength: 8192 })
  headers?: Record<string, string>;

  @ApiPropertyOptional({ type: [String], example: ['scm'] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(50)
  @Matches(TAG, { each: true, message: 'each tag must match ^[A-Za-z0-9_.:-]{1,64}$' })
  tags?: string[];

  @ApiPropertyOptional({ default: false })
  @IsOptional()
  @IsBoolean()
  isInternal?: boolean;

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;
}

export class UpdateIntegrationDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 100 })
  @IsOptional()
  @IsString()
  @Length(1, 100)
  displayName?: string;

  @ApiPropertyOptional({ maxLength: 500 })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string;

  @ApiPropertyOptional({ type: ConfigMetadataDto, nullable: true, description: 'Replaced whole. null drops a SYSTEM integration\'s override (the catalog\'s is used again); a CUSTOM integration cannot drop its own.' })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => ConfigMetadataDto)
  configMetadata?: ConfigMetadataDto | null;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'Merged per key (RFC 7396).' })
  @IsOptional()
  @IsJsonObject({ maxBytes: 32768, maxKeys: 100 })
  parameters?: Record<string, unknown>;

  @ApiPropertyOptional({ type: String, nullable: true, description: 'An authMetadata id; null removes the auth method and its credentials. Credentials the new method does not declare are dropped.' })
  @IsOptional()
  @IsString()
  @Length(1, 64)
  authMethod?: string | null;

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' }, writeOnly: true, description: SECRET_DOC })
  @IsOptional()
  @IsJsonObject({ maxBytes: 32768, maxKeys: 50, maxDepth: 3 })
  credentials?: Record<string, unknown>;

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string', nullable: true }, writeOnly: true, description: SECRET_DOC })
  @IsOptional()
  @IsStringRecord({ maxKeys: 50, maxValueLength: 8192, allowNull: true })
  headers?: Record<string, string | null>;

  @ApiPropertyOptional({ type: [String], description: 'Replaced whole.' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(50)
  @Matches(TAG, { each: true, message: 'each tag must match ^[A-Za-z0-9_.:-]{1,64}$' })
  tags?: string[];

  @ApiPropertyOptional()
  @IsOptional()
  @IsBoolean()
  isInternal?: boolean;

  @ApiPropertyOptional()
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;
}

export class ListIntegrationsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ description: 'Only integrations of this connector.' })
  @IsOptional()
  @IsString()
  @Length(1, 64)
  connector?: string;

  @ApiPropertyOptional({ description: 'Only integrations carrying this tag.' })
  @IsOptional()
  @IsString()
  @Length(1, 64)
  tag?: string;

  @ApiPropertyOptional({ enum: ['true', 'false'] })
  @IsOptional()
  @IsIn(['true', 'false'])
  enabled?: 'true' | 'false';

  @ApiPropertyOptional({ enum: ['BASIC', 'FULL'], description: 'FULL includes configMetadata.' })
  @IsOptional()
  @IsIn(['BASIC', 'FULL'])
  view?: 'BASIC' | 'FULL';
}

fastQueryRules(ListIntegrationsQueryDto, {
  ...PAGE_QUERY_RULES,
  connector: textUpTo(64),
  tag: textUpTo(64),
  enabled: oneOf('true', 'false'),
  view: oneOf('BASIC', 'FULL'),
});

export class HealthView {
  @ApiProperty({ enum: ['unknown', 'healthy', 'unhealthy'] }) status: 'unknown' | 'healthy' | 'unhealthy';
  @ApiProperty({ type: String, nullable: true, format: 'date-time' }) checkedAt: string | null;
  @ApiProperty({ type: Number, nullable: true }) latencyMs: number | null;
  @ApiProperty({ type: 'object', nullable: true, properties: { code: { type: 'string' }, message: { type: 'string' } } })
  lastError: { code: string; message: string } | null;
}

export class IntegrationView {
  @ApiProperty() id: string;
  @ApiProperty() tenantId: string;
  @ApiProperty() displayName: string;
  @ApiProperty() description: string;
  @ApiProperty() connector: string;
  @ApiProperty({ enum: ['SYSTEM', 'CUSTOM'] }) type: 'SYSTEM' | 'CUSTOM';
  @ApiPropertyOptional({ type: 'object', additionalProperties: true }) configMetadata?: unknown;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'Secret parameters read as ***REDACTED***.' }) parameters: Record<string, unknown>;
  @ApiProperty({ type: String, nullable: true }) authMethod: string | null;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string', enum: ['***REDACTED***'] } }) credentials: Record<string, string>;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string', enum: ['***REDACTED***'] } }) headers: Record<string, string>;
  @ApiProperty({ type: [String] }) tags: string[];
  @ApiProperty() isInternal: boolean;
  @ApiProperty() enabled: boolean;
  @ApiProperty({ type: HealthView }) health: HealthView;
  @ApiProperty() etag: string;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time' }) modifiedAt: string;
}

export class IntegrationListView {
  @ApiProperty({ type: [IntegrationView] }) integrations: IntegrationView[];
  @ApiProperty({ type: String, nullable: true }) nextPageToken: string | null;
}

export class CheckResultView {
  @ApiProperty({ enum: ['healthy', 'unhealthy'] }) status: 'healthy' | 'unhealthy';
  @ApiProperty({ format: 'date-time' }) checkedAt: string;
  @ApiProperty() latencyMs: number;
  @ApiProperty({ type: 'object', nullable: true, properties: { code: { type: 'string' }, message: { type: 'string' } } })
  error: { code: string; message: string } | null;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'Non-secret facts: httpStatus, serverVersion, login, scopes…' })
  details: Record<string, unknown>;
}
