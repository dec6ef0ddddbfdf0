import { ApiProperty, type SchemaObject } from '@nestjs/swagger';
import { ErrorResponse } from '../http/error-response.js';

const dependencies: { type: 'object'; additionalProperties: SchemaObject } = {
  type: 'object',
  additionalProperties: {
    type: 'object',
    properties: {
      status: { type: 'string', enum: ['up', 'down'] },
      message: { type: 'string', description: 'Why it is down' },
      responseTime: { type: 'integer', description: 'Milliseconds the check took' },
    },
    required: ['status'],
  },
};

/** GET /health while the database answers (the shape of @nestjs/terminus, Redis added to `details`). */
export class HealthResponse {
  @ApiProperty({ enum: ['ok', 'degraded'], example: 'ok', description: '"degraded" when Redis is down (the code stays 200)' }) status: 'ok' | 'degraded';
  @ApiProperty({ ...dependencies, description: 'The checks that decide the status', example: { database: { status: 'up', responseTime: 2 } } })
  info: Record<string, unknown>;
  @ApiProperty({ ...dependencies, description: 'The checks that failed (none)', example: {} }) error: Record<string, unknown>;
  @ApiProperty({
    ...dependencies,
    description: 'Each configured dependency: the database, and Redis when REDIS_URL is set (Redis does not decide the status)',
    example: { database: { status: 'up', responseTime: 2 }, redis: { status: 'up' } },
  })
  details: Record<string, unknown>;
}

/** GET /health when the database does not answer: an error body with the per-dependency details. */
export class HealthUnavailableResponse extends ErrorResponse {
  @ApiProperty({ enum: ['error'] }) status: 'error';
  @ApiProperty({ ...dependencies, description: 'The checks that passed' }) info: Record<string, unknown>;
  @ApiProperty({ ...dependencies, description: 'Each configured dependency and its state' }) details: Record<string, unknown>;
}
