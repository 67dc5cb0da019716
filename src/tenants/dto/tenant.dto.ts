import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Length, Matches, MaxLength, ValidateIf } from 'class-validator';
import { IsJsonObject } from '../../common/validation/json-object.validator';

export const CLIENT_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export class CreateTenantDto {
  @ApiProperty({ pattern: CLIENT_ID_PATTERN.source, example: 'acme' })
  @IsString()
  @Matches(CLIENT_ID_PATTERN, { message: 'must match ^[A-Za-z0-9_-]{1,64}$' })
  id: string;

  @ApiProperty({ minLength: 1, maxLength: 100, example: 'Acme Corp' })
  @IsString()
  @Length(1, 100)
  displayName: string;

  @ApiPropertyOptional({ maxLength: 500 })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'Free-form JSON object (at most 16 KiB).' })
  @IsOptional()
  @IsJsonObject({ maxBytes: 16384 })
  metadata?: Record<string, unknown>;
}

export class UpdateTenantDto {
  // Omitted keeps the name; null is not a name and cannot be removed, so it is a 400 rather than ignored.
  @ApiPropertyOptional({ minLength: 1, maxLength: 100 })
  @ValidateIf((_, value) => value !== undefined)
  @IsString()
  @Length(1, 100)
  displayName?: string;

  @ApiPropertyOptional({ maxLength: 500, nullable: true, description: 'null clears it (RFC 7396).' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string | null;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, nullable: true, description: 'Merged per key (RFC 7396): null removes a key; null for the whole object clears it.' })
  @IsOptional()
  @IsJsonObject({ maxBytes: 16384 })
  metadata?: Record<string, unknown> | null;
}

export class TenantView {
  @ApiProperty() id: string;
  @ApiProperty() displayName: string;
  @ApiProperty() description: string;
  @ApiProperty({ type: 'object', additionalProperties: true }) metadata: Record<string, unknown>;
  @ApiProperty() etag: string;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time' }) modifiedAt: string;
}

export class TenantListView {
  @ApiProperty({ type: [TenantView] }) tenants: TenantView[];
  @ApiProperty({ type: String, nullable: true }) nextPageToken: string | null;
}
