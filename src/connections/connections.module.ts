import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { IntegrationsModule } from '../integrations/integrations.module';
import { OAuth2Module } from '../oauth2/oauth2.module';
import { TenantsModule } from '../tenants/tenants.module';
import { VerificationModule } from '../verification/verification.module';
import { ConnectionsController } from './connections.controller';
import { ConnectionsService } from './connections.service';
import { ConnectionsStoreModule } from './connections-store.module';

@Module({
  imports: [AuditModule, ConnectionsStoreModule, IntegrationsModule, OAuth2Module, TenantsModule, VerificationModule],
  controllers: [ConnectionsController],
  providers: [ConnectionsService],
  exports: [ConnectionsService],
})
export class ConnectionsModule {}
