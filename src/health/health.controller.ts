import { Controller, Get, Optional, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheckService, type HealthCheckResult, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { RedisConnections } from '../external-events/redis.connections.js';
import { ApiErrorResponse } from '../http/error-response.js';
import { HealthResponse, HealthUnavailableResponse } from './health.response.js';

/**
 * 200 while the database answers, 503 when it does not. Redis, when configured, is listed with its state
 * but does not decide the code: without it allocations still work and its messages wait in the outbox.
 */
@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly db: TypeOrmHealthIndicator,
    @Optional() private readonly redis?: RedisConnections,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Health of the service and of each configured dependency' })
  @ApiResponse({ status: 200, type: HealthResponse, description: 'The database answers' })
  @ApiErrorResponse(
    503,
    'The database does not answer; the body has `message` and the per-dependency details',
    { 'Database down': 'The database does not answer' },
    {
      type: HealthUnavailableResponse,
      fields: { status: 'error', info: {}, details: { database: { status: 'down', message: 'timeout of 2000ms exceeded', responseTime: 2001 } } },
    },
  )
  async check(): Promise<HealthCheckResult> {
    const redis = this.redis ? { redis: { status: (await this.redis.ping()) ? 'up' : 'down' } } : {};
    try {
      const result = await this.health.check([() => this.db.pingCheck('database').withTimeout(2000)]);
      return { ...result, details: { ...result.details, ...redis } } as HealthCheckResult;
    } catch (error) {
      if (error instanceof ServiceUnavailableException) {
        const body = error.getResponse() as { details?: Record<string, unknown> };
        throw new ServiceUnavailableException({
          ...body,
          details: { ...body.details, ...redis },
          message: 'The database does not answer',
        });
      }
      throw error;
    }
  }
}
