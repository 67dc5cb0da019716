import { Module } from '@nestjs/common';
import { ConnectionHealth } from './connection-health';
import { ConnectionSecrets } from './connection-secrets';
import { ConnectionsRepository } from './connections.repository';

/** Connection storage shared by the connections API and the OAuth2 flow (which the API itself uses): no cycle between them. */
@Module({
  providers: [ConnectionsRepository, ConnectionSecrets, ConnectionHealth],
  exports: [ConnectionsRepository, ConnectionSecrets, ConnectionHealth],
})
export class ConnectionsStoreModule {}
