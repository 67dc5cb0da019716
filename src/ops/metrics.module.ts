import { Global, Module } from '@nestjs/common';
import { AppMetrics } from './metrics';

@Global()
@Module({ providers: [{ provide: AppMetrics, useFactory: () => new AppMetrics() }], exports: [AppMetrics] })
export class MetricsModule {}
