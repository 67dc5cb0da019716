import { Controller, Get, Header, HttpCode } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOperation, ApiTags } from '@nestjs/swagger';
import { DataSource } from 'typeorm';
import { Public } from '../common/auth/access.decorators';
import { Problems } from '../common/http/problem';
import { AppMetrics } from './metrics';

@ApiTags('operations')
@Controller()
@Public()
export class OpsController {
  constructor(
    private readonly dataSource: DataSource,
    private readonly metrics: AppMetrics,
  ) {}

  @Get('healthz')
  @ApiOperation({ summary: 'Liveness: 200 while the process runs, even with the database down' })
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('readyz')
  @ApiOperation({ summary: 'Readiness: 200 when the database answers, else 503' })
  async readyz(): Promise<{ status: 'ok'; database: 'up' }> {
    try {
      await Promise.race([
        this.dataSource.query('SELECT 1'),
        new Promise((_, fail) => setTimeout(() => fail(new Error('timeout')), 2000).unref()),
      ]);
    } catch {
      throw Problems.unavailable('The database is unreachable.');
    }
    return { status: 'ok', database: 'up' };
  }

  @Get('metrics')
  @HttpCode(200)
  @ApiExcludeEndpoint()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  metricsText(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
