import { applyDecorators, Controller, Get, Optional, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheckService, type HealthCheckResult, type HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { RedisConnections } from '../external-events/redis.connections.js';
import { ApiErrorResponse } from '../http/error-response.js';
import { DATABASE_CHECK_TIMEOUT_MS, DatabaseProbe } from './database.probe.js';
import { HealthResponse, HealthUnavailableResponse } from './health.response.js';

const REDIS_CHECK_TIMEOUT_MS = 1000;

const readinessDocs = (summary: string) =>
  applyDecorators(
    ApiOperation({ summary }),
    ApiResponse({
      status: 200,
      type: HealthResponse,
      description:
        'The database answers. `details` lists each configured dependency: `database`, and `redis` when REDIS_URL is set. ' +
        'Redis down makes `status` "degraded" but never the code. Each check gives up after 1 s.',
    }),
    ApiErrorResponse(
      503,
      'The database does not answer within 1 s (or the service is shutting down); `message` says which, `details` lists each dependency',
      { 'Database down': 'The database does not answer', 'Shutting down': 'The service is shutting down' },
      {
        type: HealthUnavailableResponse,
        fields: { status: 'error', info: {}, details: { database: { status: 'down', message: 'timeout of 1000ms exceeded', responseTime: 1000 } } },
      },
    ),
  );

/**
 * Liveness (the process serves HTTP) and readiness (the database answers). Redis, when configured, is listed
 * with its state but does not decide the code: without it allocations still work and its messages wait in
 * the outbox. Checks run side by side, each bounded, the database's on a connection of its own.
 */
@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly database: DatabaseProbe,
    @Optional() private readonly redis?: RedisConnections,
  ) {}

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process serves HTTP (no dependency is checked)' })
  @ApiResponse({ status: 200, description: 'Always, while the process answers HTTP', schema: { example: { status: 'ok' } } })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @readinessDocs('Readiness: the database answers; lists each configured dependency and its state')
  ready(): Promise<HealthCheckResult> {
    return this.readiness();
  }

  @Get()
  @readinessDocs('Same as GET /health/ready')
  check(): Promise<HealthCheckResult> {
    return this.readiness();
  }

  private async readiness(): Promise<HealthCheckResult> {
    const redis = this.checkRedis(); // started now, so it runs beside the database's check
    try {
      const result = await this.health.check([
        () => this.indicators.check('database').attempt(() => this.database.ping()).withTimeout(DATABASE_CHECK_TIMEOUT_MS),
      ]);
      return withRedis(result, await redis);
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      const body = error.getResponse() as HealthCheckResult;
      throw new ServiceUnavailableException({
        ...withRedis(body, await redis),
        message: body.status === 'shutting_down' ? 'The service is shutting down' : 'The database does not answer',
      });
    }
  }

  private async checkRedis(): Promise<HealthIndicatorResult<'redis'> | undefined> {
    const redis = this.redis;
    if (!redis) return undefined;
    return this.indicators
      .check('redis')
      .attempt(async () => {
        const answer = await redis.commands.ping();
        if (answer !== 'PONG') throw new Error(`PING answered ${answer}`);
      })
      .withTimeout(REDIS_CHECK_TIMEOUT_MS);
  }
}

/** Adds Redis's state to a result the database alone decided. */
function withRedis(result: HealthCheckResult, redis: HealthIndicatorResult<'redis'> | undefined): HealthCheckResult {
  if (!redis) return result;
  const up = redis.redis.status === 'up';
  return {
    ...result,
    status: !up && result.status === 'ok' ? 'degraded' : result.status,
    info: up ? { ...result.info, ...redis } : result.info,
    error: up ? result.error : { ...result.error, ...redis },
    details: { ...result.details, ...redis },
  };
}
