import { ConnectionsModule } from './connections/connections.module';
import { ConnectorsModule } from './connectors/connectors.module';
import { EventsModule } from './events/events.module';
import { IntegrationsModule } from './integrations/integrations.module';
import { OAuth2Module } from './oauth2/oauth2.module';
import { HealthCheckModule } from './verification/health-check.module';
import { WebhooksModule } from './webhooks/webhooks.module';

/** Feature modules beyond the foundation, in the order they build on each other. */
export const FEATURE_MODULES = [EventsModule, ConnectorsModule, IntegrationsModule, WebhooksModule, ConnectionsModule, OAuth2Module, HealthCheckModule];
