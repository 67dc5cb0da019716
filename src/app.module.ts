import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { PassportModule } from '@nestjs/passport';
import { ThrottlerModule } from '@nestjs/throttler';
import { TypeOrmModule } from '@nestjs/typeorm';
import { LoggerModule } from 'nestjs-pino';
import { AuditModule } from './audit/audit.module';
import { AccessGuard, JwtAuthGuard } from './common/auth/auth.guards';
import { JwtStrategy } from './common/auth/jwt.strategy';
import { TokenThrottlerGuard } from './common/auth/token-throttler.guard';
import { CryptoModule } from './common/crypto/crypto.module';
import { ProblemDetailsFilter } from './common/http/problem-details.filter';
import { createValidationPipe } from './common/http/validation';
import { type AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { dataSourceOptions } from './database/data-source';
import { DatabaseMigrator } from './database/database-migrator';
import { DatabaseModule } from './database/database.module';
import type { Logger as Pino } from 'pino';
import { createRootLogger, loggerOptions } from './ops/logger-options';
import { MetricsModule } from './ops/metrics.module';
import { OpsController } from './ops/ops.controller';
import { TenantsModule } from './tenants/tenants.module';
import { FEATURE_MODULES } from './feature-modules';

/**
 * The whole service. Global pipe, guards, filter and interceptors are APP_*
 * providers, so an app built by a test behaves exactly like production.
 */
@Module({})
export class AppModule {
  static register(config: AppConfig & { databaseUrl: string }, logger: Pino = createRootLogger(config)): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.register(config),
        LoggerModule.forRoot(loggerOptions(logger)),
        TypeOrmModule.forRoot({ ...dataSourceOptions(config.databaseUrl), retryAttempts: 0 }),
        DatabaseModule,
        PassportModule,
        ThrottlerModule.forRoot({
          throttlers: [{ name: 'default', ttl: 60_000, limit: config.rateLimitPerMinute || Number.MAX_SAFE_INTEGER }],
          skipIf: () => config.rateLimitPerMinute === 0,
        }),
        MetricsModule,
        CryptoModule,
        AuditModule,
        TenantsModule,
        ...FEATURE_MODULES,
      ],
      controllers: [OpsController],
      providers: [
        DatabaseMigrator,
        JwtStrategy,
        { provide: APP_GUARD, useClass: JwtAuthGuard },
        { provide: APP_GUARD, useClass: AccessGuard },
        // With RATE_LIMIT_PER_MINUTE=0 the guard is not installed at all rather than skipped per request.
        ...(config.rateLimitPerMinute > 0 ? [{ provide: APP_GUARD, useClass: TokenThrottlerGuard }] : []),
        { provide: APP_PIPE, useFactory: createValidationPipe },
        { provide: APP_FILTER, useClass: ProblemDetailsFilter },
      ],
    };
  }
}
