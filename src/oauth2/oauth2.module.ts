import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ConnectionsStoreModule } from '../connections/connections-store.module';
import { IntegrationsModule } from '../integrations/integrations.module';
import { VerificationModule } from '../verification/verification.module';
import { OAuth2StatesRepository } from './oauth2-states.repository';
import { OAuth2Controller } from './oauth2.controller';
import { OAuth2Service } from './oauth2.service';
import { TOKEN_REFRESH_SCHEDULE, TokenRefreshScheduler, type TokenRefreshSchedule } from './token-refresh.scheduler';
import { TokenRefresher } from './token-refresher.service';

@Module({
  imports: [AuditModule, ConnectionsStoreModule, IntegrationsModule, VerificationModule],
  controllers: [OAuth2Controller],
  providers: [
    OAuth2StatesRepository,
    OAuth2Service,
    TokenRefresher,
    TokenRefreshScheduler,
    {
      provide: TOKEN_REFRESH_SCHEDULE,
      inject: [APP_CONFIG],
      // Tests drive the scheduler through runOnce(); a timer there would race them.
      useFactory: (config: AppConfig): TokenRefreshSchedule => ({ intervalMs: config.nodeEnv === 'test' ? 0 : 30_000, batchSize: 25, horizonSeconds: 300 }),
    },
  ],
  exports: [OAuth2Service, TokenRefresher, TokenRefreshScheduler],
})
export class OAuth2Module {}
