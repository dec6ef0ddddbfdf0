import { Controller, Get, Optional, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheckService, type HealthCheckResult, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { RedisConnections } from '../external-events/redis.connections.js';

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
  @ApiResponse({ status: 200, description: '{status: "ok", details: {database: {status: "up"}, redis?: {status}}}' })
  @ApiResponse({ status: 503, description: 'The database does not answer; body has `message` and the per-dependency details' })
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
