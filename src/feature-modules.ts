import { ConnectorsModule } from './connectors/connectors.module';
import { EventsModule } from './events/events.module';
import { IntegrationsModule } from './integrations/integrations.module';

/** Feature modules beyond the foundation, in the order they build on each other. */
export const FEATURE_MODULES = [EventsModule, ConnectorsModule, IntegrationsModule];
