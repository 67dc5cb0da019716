import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsBoolean, IsOptional, IsString, Length, Matches, MaxLength, registerDecorator } from 'class-validator';
import { PageQueryDto } from '../../common/http/pagination';

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const ID_MESSAGE = { message: 'must match ^[A-Za-z0-9_-]{1,64}$' };
export const MAX_URL_LENGTH = 2048;

/** http or https, with a host and without user:password (the URL is shown back, so it must hold no credential). */
export function isWebhookUrl(value: unknown): boolean {
  if (typeof value !== 'string' || value.length > MAX_URL_LENGTH) return false;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' && url.username === '' && url.password === '';
}

function IsWebhookUrl() {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isWebhookUrl',
      target: target.constructor,
      propertyName,
      options: { message: `must be an http or https URL of at most ${MAX_URL_LENGTH} characters, without user or password` },
      validator: { validate: isWebhookUrl },
    });
}

const EVENTS_DOC = 'Event types to receive (see docs/webhooks.md), or ["*"] for all of them. An unknown type is 422.';

export class CreateWebhookEndpointDto {
  @ApiProperty({ maxLength: MAX_URL_LENGTH, example: 'https://hooks.example.com/switchboard' })
  @IsString()
  @IsWebhookUrl()
  url: string;

  @ApiPropertyOptional({ maxLength: 500 })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string;

  @ApiProperty({ type: [String], example: ['integration.health_changed'], description: EVENTS_DOC })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(50)
  @IsString({ each: true })
  @Length(1, 100, { each: true })
  events: string[];

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;
}

export class UpdateWebhookEndpointDto {
  @ApiPropertyOptional({ maxLength: MAX_URL_LENGTH })
  @IsOptional()
  @IsString()
  @IsWebhookUrl()
  url?: string;

  @ApiPropertyOptional({ maxLength: 500 })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string;

  @ApiPropertyOptional({ type: [String], description: `Replaced whole. ${EVENTS_DOC}` })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(50)
  @IsString({ each: true })
  @Length(1, 100, { each: true })
  events?: string[];

  @ApiPropertyOptional()
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;
}

export class WebhookEndpointParam {
  @ApiProperty({ pattern: ID.source })
  @IsString()
  @Matches(ID, ID_MESSAGE)
  tenant: string;

  @ApiProperty({ pattern: ID.source, example: 'whep_3f9c0a1b2c3d4e5f6a7b8c9d' })
  @IsString()
  @Matches(ID, ID_MESSAGE)
  endpoint: string;
}

export class WebhookEndpointActionParam {
  @IsString()
  @Matches(ID, ID_MESSAGE)
  tenant: string;

  @IsString()
  @Matches(/^[A-Za-z0-9_-]{1,64}:[A-Za-z]{1,32}$/, { message: 'must be {endpoint}:{action}' })
  endpointAction: string;
}

export class WebhookDeliveryActionParam {
  @IsString()
  @Matches(ID, ID_MESSAGE)
  tenant: string;

  @IsString()
  @Matches(ID, ID_MESSAGE)
  endpoint: string;

  @IsString()
  @Matches(/^[A-Za-z0-9_-]{1,64}:[A-Za-z]{1,32}$/, { message: 'must be {delivery}:{action}' })
  deliveryAction: string;
}

export class ListWebhookEndpointsQueryDto extends PageQueryDto {}

export class ListWebhookDeliveriesQueryDto extends PageQueryDto {}

const ERROR_SCHEMA = { type: 'object', nullable: true, properties: { code: { type: 'string' }, message: { type: 'string' } } } as const;

export class WebhookEndpointHealthView {
  @ApiProperty({ enum: ['unknown', 'healthy', 'unhealthy'], description: 'unhealthy after 5 failed attempts in a row; a successful one makes it healthy again.' })
  status: 'unknown' | 'healthy' | 'unhealthy';
  @ApiProperty({ description: 'Failed delivery attempts since the last successful one.' }) consecutiveFailures: number;
  @ApiProperty({ type: String, nullable: true, format: 'date-time' }) checkedAt: string | null;
  @ApiProperty(ERROR_SCHEMA) lastError: { code: string; message: string } | null;
}

export class WebhookEndpointView {
  @ApiProperty({ example: 'whep_3f9c0a1b2c3d4e5f6a7b8c9d' }) id: string;
  @ApiProperty() tenantId: string;
  @ApiProperty() url: string;
  @ApiProperty() description: string;
  @ApiProperty({ type: [String] }) events: string[];
  @ApiProperty() enabled: boolean;
  @ApiProperty({
    example: '***REDACTED***',
    description: 'The signing secret ("whsec_" + base64 of 32 random bytes). Shown only in the create and :rotateSecret replies; every other read, and a replayed create, shows ***REDACTED***.',
  })
  secret: string;
  @ApiProperty({ type: String, nullable: true, format: 'date-time', description: 'Until then the secret replaced by the last rotation still signs beside the current one.' })
  previousSecretExpiresAt: string | null;
  @ApiProperty({ type: WebhookEndpointHealthView }) health: WebhookEndpointHealthView;
  @ApiProperty() etag: string;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time' }) modifiedAt: string;
}

export class WebhookEndpointListView {
  @ApiProperty({ type: [WebhookEndpointView] }) webhookEndpoints: WebhookEndpointView[];
  @ApiProperty({ type: String, nullable: true }) nextPageToken: string | null;
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed' | 'blocked';

export class WebhookDeliveryView {
  @ApiProperty({ example: 'whdl_0c1d2e3f4a5b6c7d8e9f0a1b', description: 'One attempt to deliver one event to this endpoint.' }) id: string;
  @ApiProperty() endpointId: string;
  @ApiProperty({ example: 'evt_0c1d2e3f4a5b6c7d8e9f0a1b', description: 'Also the webhook-id header, the same on every attempt.' }) eventId: string;
  @ApiProperty({ example: 'integration.health_changed' }) eventType: string;
  @ApiProperty({ description: '1 for the first attempt at this event, then 2, 3, … (a :retry continues the count).' }) attempt: number;
  @ApiProperty({ enum: ['pending', 'succeeded', 'failed', 'blocked'] }) status: DeliveryStatus;
  @ApiProperty({ type: Number, nullable: true, description: 'The receiver\'s HTTP status, when it answered.' }) responseStatus: number | null;
  @ApiProperty({ type: Number, nullable: true }) latencyMs: number | null;
  @ApiProperty({ ...ERROR_SCHEMA, description: 'UNREACHABLE, TIMEOUT, TLS_ERROR, BLOCKED_DESTINATION, CONFIG_INVALID or UPSTREAM_ERROR (a non-2xx answer).' })
  error: { code: string; message: string } | null;
  @ApiProperty({
    type: String,
    nullable: true,
    format: 'date-time',
    description: 'pending: when this attempt is (re)tried. failed: when the next attempt is due, null when none will follow.',
  })
  nextAttemptAt: string | null;
  @ApiProperty({ type: String, nullable: true, format: 'date-time', description: 'When the request was sent; null while it has not been.' })
  attemptedAt: string | null;
  @ApiProperty({ format: 'date-time', description: 'When this attempt was scheduled.' }) createdAt: string;
}

export class WebhookDeliveryListView {
  @ApiProperty({ type: [WebhookDeliveryView] }) deliveries: WebhookDeliveryView[];
  @ApiProperty({ type: String, nullable: true }) nextPageToken: string | null;
}
