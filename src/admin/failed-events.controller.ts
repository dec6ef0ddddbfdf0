import { BadRequestException, Controller, Get, HttpCode, Inject, NotFoundException, ConflictException, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiProperty, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { ApiErrorResponse, MALFORMED_JSON, UNAVAILABLE } from '../http/error-response.js';
import { withRequestId } from '../logging/request-context.js';
import { DeliveryRunner } from '../messaging/delivery-runner.js';
import { storedEventFromRow } from '../messaging/event-codec.js';
import { HandlerRegistry } from '../messaging/handler-registry.js';
import { OutboxStore } from '../messaging/outbox.store.js';
import { AdminTokenGuard } from './admin-token.guard.js';

class DeadLetterResponse {
  @ApiProperty({ example: '42', description: 'Id of the failed delivery (use it to retry)' }) id: string;
  @ApiProperty({ format: 'uuid' }) eventId: string;
  @ApiProperty({ example: 'OutOfStock' }) event: string;
  @ApiProperty({ example: { sku: 'RED-CHAIR' } }) payload: Record<string, unknown>;
  @ApiProperty({ example: 'OutOfStockNotifier' }) handler: string;
  @ApiProperty({ type: 'integer', example: 5 }) attempts: number;
  @ApiProperty({ example: 'Error: connect ECONNREFUSED 127.0.0.1:25' }) lastError: string;
  @ApiProperty({ nullable: true, type: String }) requestId: string | null;
  @ApiProperty({ format: 'date-time', description: 'When the last attempt failed' }) failedAt: string;
  @ApiProperty({ format: 'date-time' }) eventCreatedAt: string;
}

class DeadLetterPage {
  @ApiProperty({ type: [DeadLetterResponse], description: 'Newest first' }) items: DeadLetterResponse[];
  @ApiProperty({ type: 'integer', example: 1, description: 'Dead letters in all' }) total: number;
  @ApiProperty({ type: 'integer', example: 50 }) limit: number;
  @ApiProperty({ type: 'integer', example: 0 }) offset: number;
}

class RetryResponse {
  @ApiProperty({ example: '42' }) id: string;
  @ApiProperty({ description: 'True when the handler succeeded: the dead letter is gone' }) delivered: boolean;
  @ApiProperty({ required: false, description: 'Why it failed again (it stays a dead letter)' }) lastError?: string;
}

/** Where swallowed failures become visible: dead-lettered deliveries, and a way to run them again. */
@ApiTags('admin')
@ApiBearerAuth()
@ApiErrorResponse(401, 'No or wrong bearer token (or ADMIN_TOKEN unset)', { 'No valid token': 'A valid admin bearer token is required' })
@ApiErrorResponse(503, 'Database unreachable; see Retry-After', { 'Database unreachable': UNAVAILABLE })
@UseGuards(AdminTokenGuard)
@Controller('admin/failed-events')
export class FailedEventsController {
  constructor(
    private readonly store: OutboxStore,
    private readonly runner: DeliveryRunner,
    private readonly handlers: HandlerRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Dead-lettered event deliveries, newest first' })
  @ApiQuery({ name: 'limit', required: false, description: 'Page size', schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } })
  @ApiQuery({ name: 'offset', required: false, description: 'Dead letters to skip', schema: { type: 'integer', minimum: 0, maximum: 1_000_000_000, default: 0 } })
  @ApiResponse({ status: 200, type: DeadLetterPage, description: 'A page of dead letters, newest first' })
  @ApiErrorResponse(400, 'limit or offset out of range', { 'Bad limit': ['limit must be an integer from 1 to 500'] })
  async list(@Query('limit') limit?: string, @Query('offset') offset?: string): Promise<DeadLetterPage> {
    const l = parseBound('limit', limit, 50, 1, 500);
    const o = parseBound('offset', offset, 0, 0, 1_000_000_000);
    const page = await this.store.deadLetters(l, o);
    return { ...page, limit: l, offset: o };
  }

  @Post(':id/retry')
  @HttpCode(202)
  @ApiOperation({ summary: 'Run the failed handler again now; on success the dead letter is removed' })
  @ApiParam({ name: 'id', description: 'Id of the dead letter (from the listing)', example: '42' })
  @ApiResponse({ status: 202, type: RetryResponse, description: 'Ran: delivered (the dead letter is gone), or failed again (it stays)' })
  @ApiErrorResponse(400, 'Malformed JSON body (the route reads no body)', { 'Malformed JSON': MALFORMED_JSON })
  @ApiErrorResponse(404, 'No dead letter with that id', { 'Unknown id': 'No dead letter 42' })
  @ApiErrorResponse(409, 'That dead letter is being retried right now', { 'Retry under way': 'Dead letter 42 is being retried right now' })
  async retry(@Param('id') id: string): Promise<RetryResponse> {
    if (!/^\d{1,18}$/.test(id)) throw new NotFoundException(`No dead letter ${id}`);
    const row = await this.store.claimDead(id, this.config.outboxLeaseMs);
    if (row === undefined) throw new NotFoundException(`No dead letter ${id}`);
    if (row === 'busy') throw new ConflictException(`Dead letter ${id} is being retried right now`);
    const stored = storedEventFromRow(row, (name) => this.handlers.eventClass(name));
    const delivered = await withRequestId(row.request_id ?? undefined, () => this.runner.retry(row, stored, { manual: true }));
    if (delivered) return { id, delivered };
    return { id, delivered, lastError: (await this.store.deadLetter(id))?.lastError };
  }
}

function parseBound(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) throw new BadRequestException([`${name} must be an integer from ${min} to ${max}`]);
  return n;
}
