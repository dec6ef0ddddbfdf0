import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheckService, TypeOrmHealthIndicator } from '@nestjs/terminus';

/** Liveness and readiness: 200 while the database answers, 503 when it does not. */
@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly db: TypeOrmHealthIndicator,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Health of the service and of each configured dependency' })
  @ApiResponse({ status: 200, description: '{status: "ok", info: {database: {status: "up"}}, ...}' })
  @ApiResponse({ status: 503, description: 'The database does not answer; body has `message` and the per-dependency details' })
  async check() {
    try {
      return await this.health.check([() => this.db.pingCheck('database').withTimeout(2000)]);
    } catch (error) {
      if (error instanceof ServiceUnavailableException) {
        const details = error.getResponse() as Record<string, unknown>;
        throw new ServiceUnavailableException({ ...details, message: 'The database does not answer' });
      }
      throw error;
    }
  }
}
