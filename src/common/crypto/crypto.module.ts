import { Global, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import { PageTokens } from '../http/pagination';
import { CryptoService } from './crypto.service';
import { CRYPTO } from './crypto.tokens';
import { parseKeyring } from './keyring';
import { PgTenantKeyStore } from './pg-tenant-key.store';
import { SIGNER } from './signer';

@Global()
@Module({
  providers: [
    {
      provide: CRYPTO,
      inject: [APP_CONFIG, DataSource],
      useFactory: (config: AppConfig, dataSource: DataSource) => {
        if (!config.encryptionKeys) throw new Error('ENCRYPTION_KEYS is not configured');
        return new CryptoService(parseKeyring(config.encryptionKeys), new PgTenantKeyStore(dataSource), { cacheSize: config.dataKeyCacheSize });
      },
    },
    { provide: SIGNER, useExisting: CRYPTO },
    { provide: PageTokens, inject: [CRYPTO], useFactory: (crypto: CryptoService) => new PageTokens(crypto) },
  ],
  exports: [CRYPTO, SIGNER, PageTokens],
})
export class CryptoModule {}
