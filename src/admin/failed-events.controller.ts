import { BadRequestException, Body, ConflictException, Controller, Delete, Get, HttpCode, Inject, NotFoundException, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiProperty, ApiPropertyOptional, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { IsDefined, IsISO8601, IsOptional, IsString, Length } from 'class-validator';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { ApiErrorResponse, MALFORMED_JSON, UNAVAILABLE } from '../http/error-response.js';
import type { DeliveryHistoryEntry } from '../messaging/event-delivery.entity.js';
import { DEAD_LETTER_STATES, type DeadLetterState, OutboxStore } from '../messaging/outbox.store.js';
import { AdminTokenGuard } from './admin-token.guard.js';
import { DeadLetterOperations } from './dead-letters.service.js';

/** Ids are bigints: anything else names no dead letter (a 404, not a database error). */
const isLetterId = (id: string) => /^\d{1,18}$/.test(id);

class DeadLetterResponse {
  @ApiProperty({ example: '42', description: 'Id of the failed delivery (use it to retry)' }) id: string;
  @ApiProperty({ enum: DEAD_LETTER_STATES, example: 'dead', description: 'dead (waiting for an operator), discarded, or delivered by an operator' }) state: DeadLetterState;
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

class HistoryEntryResponse {
  @ApiProperty({ format: 'date-time' }) at: string;
  @ApiProperty({ enum: ['attempt_failed', 'dead_lettered', 'retried', 'discarded'], example: 'attempt_failed' }) action: DeliveryHistoryEntry['action'];
  @ApiPropertyOptional({ type: 'integer', example: 1 }) attempt?: number;
  @ApiPropertyOptional({ example: 'Error: connect ECONNREFUSED 127.0.0.1:25' }) error?: string;
  @ApiPropertyOptional({ enum: ['delivered', 'failed'], description: "Of an operator's retry" }) outcome?: 'delivered' | 'failed';
  @ApiPropertyOptional({ example: 'bad payload from the old client; fixed upstream', description: 'Of a discard' }) reason?: string;
  @ApiPropertyOptional({ enum: ['operator'], description: 'Set on operator actions' }) by?: 'operator';
}

class DeadLetterDetailResponse extends DeadLetterResponse {
  @ApiProperty({ type: [HistoryEntryResponse], description: 'Failed attempts and operator actions, oldest first' }) history: HistoryEntryResponse[];
}

class BulkRetryRequest {
  @ApiPropertyOptional({ example: 'OutOfStockNotifier', description: 'Only dead letters of this handler' })
  @IsOptional()
  @IsString()
  @Length(1, 100)
  handler?: string;

  @ApiPropertyOptional({ example: 'OutOfStock', description: 'Only dead letters of this event' })
  @IsOptional()
  @IsString()
  @Length(1, 100)
  event?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Only dead letters whose last attempt failed at or after this time' })
  @IsOptional()
  @IsISO8601({ strict: true, strictSeparator: true })
  since?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Only dead letters whose last attempt failed before this time' })
  @IsOptional()
  @IsISO8601({ strict: true, strictSeparator: true })
  until?: string;
}

class BulkRetryResponse {
  @ApiProperty({ type: 'integer', example: 50, description: 'Dead letters the filter matched' }) matched: number;
  @ApiProperty({ type: 'integer', example: 48, description: 'Delivered: no longer dead letters (kept with state delivered)' }) delivered: number;
  @ApiProperty({ type: 'integer', example: 2, description: 'Failed again: still dead letters' }) failed: number;
}

class DiscardRequest {
  @ApiProperty({ example: 'superseded by a manual correction', minLength: 1, maxLength: 1000 })
  @IsDefined({ message: 'reason is required' })
  @IsString()
  @Length(1, 1000)
  reason: string;
}

class DeadLetterPage {
  @ApiProperty({ type: [DeadLetterResponse], description: 'Newest first' }) items: DeadLetterResponse[];
  @ApiProperty({ type: 'integer', example: 1, description: 'Dead letters in all' }) total: number;
  @ApiProperty({ type: 'integer', example: 50 }) limit: number;
  @ApiProperty({ type: 'integer', example: 0 }) offset: number;
}

class RetryResponse {
  @ApiProperty({ example: '42' }) id: string;
  @ApiProperty({ description: 'True when the handler succeeded: no longer a dead letter (kept with state delivered)' }) delivered: boolean;
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
    private readonly operations: DeadLetterOperations,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Dead-lettered event deliveries, newest first (or those discarded, or delivered by an operator)' })
  @ApiQuery({ name: 'state', required: false, description: 'Which letters', schema: { type: 'string', enum: [...DEAD_LETTER_STATES], default: 'dead' } })
  @ApiQuery({ name: 'limit', required: false, description: 'Page size', schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } })
  @ApiQuery({ name: 'offset', required: false, description: 'Dead letters to skip', schema: { type: 'integer', minimum: 0, maximum: 1_000_000_000, default: 0 } })
  @ApiResponse({ status: 200, type: DeadLetterPage, description: 'A page of dead letters, newest first' })
  @ApiErrorResponse(400, 'limit, offset or state out of range', { 'Bad limit': ['limit must be an integer from 1 to 500'] })
  async list(@Query('limit') limit?: string, @Query('offset') offset?: string, @Query('state') state?: string): Promise<DeadLetterPage> {
    const l = parseBound('limit', limit, 50, 1, 500);
    const o = parseBound('offset', offset, 0, 0, 1_000_000_000);
    if (state !== undefined && !(DEAD_LETTER_STATES as readonly string[]).includes(state)) throw new BadRequestException([`state must be one of ${DEAD_LETTER_STATES.join(', ')}`]);
    const page = await this.store.deadLetters(l, o, (state as DeadLetterState | undefined) ?? 'dead');
    return { ...page, limit: l, offset: o };
  }

  @Post('retry')
  @HttpCode(202)
  @ApiOperation({ summary: 'Retry every dead letter a filter matches (all, without one), in bounded batches; answers the counts' })
  @ApiResponse({ status: 202, type: BulkRetryResponse, description: 'Each matching dead letter was tried once' })
  @ApiErrorResponse(400, 'Invalid filter', { 'Invalid filter': ['since must be a valid ISO 8601 date string'], 'Malformed JSON': MALFORMED_JSON })
  async retryMatching(@Body() body: BulkRetryRequest): Promise<BulkRetryResponse> {
    const since = body.since === undefined ? undefined : new Date(body.since);
    const until = body.until === undefined ? undefined : new Date(body.until);
    if (since && until && since >= until) throw new BadRequestException(['since must be before until']);
    return this.operations.retryMatching({ handler: body.handler, event: body.event, since, until });
  }

  @Get(':id')
  @ApiOperation({ summary: 'One dead letter: its event, handler, attempts, last error, and its history of attempts and operator actions' })
  @ApiParam({ name: 'id', description: 'Id of the dead letter (from the listing)', example: '42' })
  @ApiResponse({ status: 200, type: DeadLetterDetailResponse, description: 'The dead letter (in any state)' })
  @ApiErrorResponse(404, 'No dead letter with that id', { 'Unknown id': 'No dead letter 42' })
  async one(@Param('id') id: string): Promise<DeadLetterDetailResponse> {
    const letter = isLetterId(id) ? await this.store.deadLetter(id) : undefined;
    if (!letter) throw new NotFoundException(`No dead letter ${id}`);
    return letter;
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Discard a dead letter, with a reason: it is kept (listed with ?state=discarded) and never retried again' })
  @ApiParam({ name: 'id', description: 'Id of the dead letter (from the listing)', example: '42' })
  @ApiResponse({ status: 204, description: 'Discarded' })
  @ApiErrorResponse(400, 'No reason given', { 'No reason': ['reason is required'], 'Malformed JSON': MALFORMED_JSON })
  @ApiErrorResponse(404, 'No dead letter with that id', { 'Unknown id': 'No dead letter 42' })
  @ApiErrorResponse(409, 'That dead letter is being retried right now', { 'Retry under way': 'Dead letter 42 is being retried right now' })
  async discard(@Param('id') id: string, @Body() body: DiscardRequest): Promise<void> {
    const result = isLetterId(id) ? await this.store.discard(id, body.reason) : undefined;
    if (result === undefined) throw new NotFoundException(`No dead letter ${id}`);
    if (result === 'busy') throw new ConflictException(`Dead letter ${id} is being retried right now`);
  }

  @Post(':id/retry')
  @HttpCode(202)
  @ApiOperation({ summary: 'Run the failed handler again now; on success it is no longer a dead letter (kept with state delivered)' })
  @ApiParam({ name: 'id', description: 'Id of the dead letter (from the listing)', example: '42' })
  @ApiResponse({ status: 202, type: RetryResponse, description: 'Ran: delivered (no longer a dead letter), or failed again (it stays one)' })
  @ApiErrorResponse(400, 'Malformed JSON body (the route reads no body)', { 'Malformed JSON': MALFORMED_JSON })
  @ApiErrorResponse(404, 'No dead letter with that id', { 'Unknown id': 'No dead letter 42' })
  @ApiErrorResponse(409, 'That dead letter is being retried right now', { 'Retry under way': 'Dead letter 42 is being retried right now' })
  async retry(@Param('id') id: string): Promise<RetryResponse> {
    if (!isLetterId(id)) throw new NotFoundException(`No dead letter ${id}`);
    const row = await this.store.claimDead(id, this.config.outboxLeaseMs);
    if (row === undefined) throw new NotFoundException(`No dead letter ${id}`);
    if (row === 'busy') throw new ConflictException(`Dead letter ${id} is being retried right now`);
    const delivered = await this.operations.retry(row);
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
