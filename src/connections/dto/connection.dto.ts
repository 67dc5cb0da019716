import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsIn, IsOptional, IsString, Length, Matches, MaxLength, registerDecorator, ValidateNested, type ValidationOptions } from 'class-validator';
import { PageQueryDto } from '../../common/http/pagination';
import { IsJsonObject, IsStringRecord } from '../../common/validation/json-object.validator';
import { HealthView } from '../../integrations/dto/integration.dto';

export const ACCESS_SCOPES = ['personal', 'organizational'] as const;
export type AccessScope = (typeof ACCESS_SCOPES)[number];

const SECRET_DOC = 'WRITE-ONLY: encrypted at rest, read back as ***REDACTED***. On PATCH merged per key: null removes, "***REDACTED***" keeps.';
const ID = /^[A-Za-z0-9_-]{1,64}$/;
export const MAX_SERVERS = 10;

/** An absolute http(s) URL without user info; the message never echoes the value. */
function IsHttpUrl(options?: ValidationOptions) {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isHttpUrl',
      target: target.constructor,
      propertyName,
      options: { message: 'must be an absolute http or https URL without credentials', ...options },
      validator: {
        validate(value: unknown) {
          if (typeof value !== 'string' || value.length > 2048) return false;
          try {
            const url = new URL(value);
            return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === '';
          } catch {
            return false;
          }
        },
      },
    });
}

export class ServerDto {
  @ApiProperty({ example: 'https://api.example.com', description: 'Replaces the integration\'s base URL for this connection (the first entry is used).' })
  @IsString()
  @IsHttpUrl()
  url: string;

  @ApiPropertyOptional({ maxLength: 500 })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string;
}

export class CreateConnectionDto {
  @ApiProperty({ minLength: 1, maxLength: 100, example: 'My GitHub account' })
  @IsString()
  @Length(1, 100)
  name: string;

  @ApiPropertyOptional({ maxLength: 500 })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string;

  @ApiPropertyOptional({ enum: ACCESS_SCOPES, default: 'personal', description: 'personal: only its owner sees it; organizational: every member reads it, editors change it.' })
  @IsOptional()
  @IsIn(ACCESS_SCOPES)
  accessScope?: AccessScope;

  @ApiPropertyOptional({ default: false, description: 'Only for organizational connections (else 422).' })
  @IsOptional()
  @IsBoolean()
  isSharedServiceAccount?: boolean;

  @ApiPropertyOptional({ example: 'latest', description: 'The integration etag this connection was configured against, or "latest" (default). A pinned etag must be the integration\'s current one when written.' })
  @IsOptional()
  @IsString()
  @Length(1, 128)
  integrationVersion?: string;

  @ApiPropertyOptional({ example: 'oauth2', description: 'An authMetadata id of the integration whose supportedLevels include USER.' })
  @IsOptional()
  @IsString()
  @Length(1, 64)
  authMethod?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string' },
    writeOnly: true,
    example: { token: '<token>' },
    description: `${SECRET_DOC} For OAUTH2_AUTHORIZATION_CODE: accessToken, refreshToken, expiresAt; omit them to start the authorization flow.`,
  })
  @IsOptional()
  @IsJsonObject({ maxBytes: 32768, maxKeys: 50, maxDepth: 3 })
  credentials?: Record<string, unknown>;

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' }, writeOnly: true, example: { 'X-Extra-Auth': '<value>' }, description: `Extra headers sent on every call. ${SECRET_DOC}` })
  @IsOptional()
  @IsStringRecord({ maxKeys: 50, maxValueLength: 8192 })
  headers?: Record<string, string>;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'Defaults applied to every call, over the integration\'s; validated against its parametersMetadata. Secret ones are write-only.' })
  @IsOptional()
  @IsJsonObject({ maxBytes: 32768, maxKeys: 100 })
  parameters?: Record<string, unknown>;

  @ApiPropertyOptional({ type: [ServerDto], maxItems: MAX_SERVERS })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_SERVERS)
  @ValidateNested({ each: true })
  @Type(() => ServerDto)
  servers?: ServerDto[];

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'Free-form, non-secret.' })
  @IsOptional()
  @IsJsonObject({ maxBytes: 16384, maxKeys: 100 })
  metadata?: Record<string, unknown>;

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;
}

export class UpdateConnectionDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 100 })
  @IsOptional()
  @IsString()
  @Length(1, 100)
  name?: string;

  @ApiPropertyOptional({ maxLength: 500 })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string;

  @ApiPropertyOptional({ enum: ACCESS_SCOPES, description: 'organizational needs the editor role; personal only its owner.' })
  @IsOptional()
  @IsIn(ACCESS_SCOPES)
  accessScope?: AccessScope;

  @ApiPropertyOptional()
  @IsOptional()
  @IsBoolean()
  isSharedServiceAccount?: boolean;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @Length(1, 128)
  integrationVersion?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @Length(1, 64)
  authMethod?: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' }, writeOnly: true, description: SECRET_DOC })
  @IsOptional()
  @IsJsonObject({ maxBytes: 32768, maxKeys: 50, maxDepth: 3 })
  credentials?: Record<string, unknown>;

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string', nullable: true }, writeOnly: true, description: SECRET_DOC })
  @IsOptional()
  @IsStringRecord({ maxKeys: 50, maxValueLength: 8192, allowNull: true })
  headers?: Record<string, string | null>;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'Merged per key (RFC 7396).' })
  @IsOptional()
  @IsJsonObject({ maxBytes: 32768, maxKeys: 100 })
  parameters?: Record<string, unknown>;

  @ApiPropertyOptional({ type: [ServerDto], maxItems: MAX_SERVERS, description: 'Replaced whole.' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_SERVERS)
  @ValidateNested({ each: true })
  @Type(() => ServerDto)
  servers?: ServerDto[];

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'Merged per key (RFC 7396).' })
  @IsOptional()
  @IsJsonObject({ maxBytes: 16384, maxKeys: 100 })
  metadata?: Record<string, unknown>;

  @ApiPropertyOptional()
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;
}

export class ListConnectionsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ description: 'Only connections of this integration.' })
  @IsOptional()
  @IsString()
  @Matches(ID, { message: 'must match ^[A-Za-z0-9_-]{1,64}$' })
  integration?: string;

  @ApiPropertyOptional({ enum: ACCESS_SCOPES })
  @IsOptional()
  @IsIn(ACCESS_SCOPES)
  accessScope?: AccessScope;
}

export class ServerView {
  @ApiProperty() url: string;
  @ApiProperty() description: string;
}

export class ConnectionView {
  @ApiProperty({ example: 'conn_3f9a…' }) id: string;
  @ApiProperty({ enum: ['connection'] }) object: 'connection';
  @ApiProperty() tenantId: string;
  @ApiProperty() integrationId: string;
  @ApiProperty({ description: 'The `sub` of the user who created it.' }) ownerId: string;
  @ApiProperty() name: string;
  @ApiProperty() description: string;
  @ApiProperty({ enum: ACCESS_SCOPES }) accessScope: AccessScope;
  @ApiProperty() isSharedServiceAccount: boolean;
  @ApiProperty() integrationVersion: string;
  @ApiProperty({ type: String, nullable: true }) authMethod: string | null;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string', enum: ['***REDACTED***'] } }) credentials: Record<string, string>;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string', enum: ['***REDACTED***'] } }) headers: Record<string, string>;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'Secret parameters read as ***REDACTED***.' }) parameters: Record<string, unknown>;
  @ApiProperty({ type: [ServerView] }) servers: ServerView[];
  @ApiProperty({ type: 'object', additionalProperties: true }) metadata: Record<string, unknown>;
  @ApiProperty() enabled: boolean;
  @ApiProperty({ type: HealthView }) health: HealthView;
  @ApiProperty() etag: string;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time' }) modifiedAt: string;
}

/** A create (or :authorize) reply that still needs the user to consent at the provider. */
export class ConnectionCreatedView extends ConnectionView {
  @ApiPropertyOptional({ description: 'True when the OAuth2 authorization-code flow must be completed at authorizationUrl.' }) oauth2Required?: boolean;
  @ApiPropertyOptional({ description: 'Send the user here; the provider redirects back to /v1/oauth2/callback. One-time, valid 10 minutes.' }) authorizationUrl?: string;
}

export class AuthorizationView {
  @ApiProperty({ enum: [true] }) oauth2Required: true;
  @ApiProperty() authorizationUrl: string;
  @ApiProperty({ format: 'date-time' }) expiresAt: string;
}

export class ConnectionListView {
  @ApiProperty({ type: [ConnectionView] }) connections: ConnectionView[];
  @ApiProperty({ type: String, nullable: true }) nextPageToken: string | null;
}
