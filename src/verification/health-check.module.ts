import { Module } from '@nestjs/common';
import { ConnectionsModule } from '../connections/connections.module';
import { ConnectionsStoreModule } from '../connections/connections-store.module';
import { IntegrationsModule } from '../integrations/integrations.module';
import { HealthCheckScheduler } from './health-check.scheduler';

/** Apart from VerificationModule, which integrations and connections import: the scheduler needs both of them. */
@Module({
  imports: [ConnectionsModule, ConnectionsStoreModule, IntegrationsModule],
  providers: [HealthCheckScheduler],
  exports: [HealthCheckScheduler],
})
export class HealthCheckModule {}
