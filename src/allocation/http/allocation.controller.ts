import { Body, ConflictException, Controller, Get, HttpCode, NotFoundException, Param, Post } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiErrorResponse, CONTENDED, MALFORMED_JSON, UNAVAILABLE } from '../../http/error-response.js';
import { Allocate } from '../commands/allocate/allocate.command.js';
import { AllocateRequest, AllocateResponse } from '../commands/allocate/allocate.request.js';
import { CancelAllocation } from '../commands/cancel-allocation/cancel-allocation.command.js';
import { CancelAllocationRequest, CancelAllocationResponse } from '../commands/cancel-allocation/cancel-allocation.request.js';
import { ChangeBatchQuantity } from '../commands/change-batch-quantity/change-batch-quantity.command.js';
import { ChangeBatchQuantityRequest, ChangeBatchQuantityResponse } from '../commands/change-batch-quantity/change-batch-quantity.request.js';
import { CreateBatch } from '../commands/create-batch/create-batch.command.js';
import { CreateBatchRequest, CreateBatchResponse } from '../commands/create-batch/create-batch.request.js';
import { GetAllocations } from '../queries/get-allocations/get-allocations.query.js';
import { GetProduct } from '../queries/get-product/get-product.query.js';
import { IdentifierPipe } from './identifier.pipe.js';
import { AllocationLineResponse, ProductResponse } from './views.js';

const invalidBody = (invalidFields: string[], messages: Record<string, string | string[]> = {}) =>
  ApiErrorResponse(400, 'Invalid body: one message per faulty field, or malformed JSON', {
    ...messages,
    'Invalid fields': invalidFields,
    'Malformed JSON': MALFORMED_JSON,
  });
const invalidParameter = (name: string) =>
  ApiErrorResponse(400, `Invalid ${name}`, {
    [`Invalid ${name}`]: [`${name} must be a non-empty string of at most 255 characters without NUL`],
  });
const commandUnavailable = ApiErrorResponse(503, 'Database unreachable, or contention past the retry bound; see Retry-After', {
  'Database unreachable': UNAVAILABLE,
  'Persistent contention': CONTENDED,
});
const queryUnavailable = ApiErrorResponse(503, 'Database unreachable; see Retry-After', { 'Database unreachable': UNAVAILABLE });

/** Translates HTTP to commands and queries; the rules live in the domain. */
@ApiTags('allocation')
@Controller()
export class AllocationController {
  constructor(
    private readonly commandBus: CommandBus,
    private readonly queryBus: QueryBus,
  ) {}

  @Post('add_batch')
  @HttpCode(201)
  @ApiOperation({ summary: 'Add a batch of stock' })
  @ApiResponse({ status: 201, type: CreateBatchResponse, description: 'Created: the batch as stored' })
  @invalidBody(['sku is required', 'qty must not be less than 1'])
  @ApiErrorResponse(409, 'A batch with that ref exists', { 'Duplicate ref': 'Batch batch-001 already exists' })
  @commandUnavailable
  async addBatch(@Body() body: CreateBatchRequest): Promise<CreateBatchResponse> {
    const eta = body.eta ?? null;
    await this.commandBus.execute(new CreateBatch(body.ref, body.sku, body.qty, eta));
    return { ref: body.ref, sku: body.sku, qty: body.qty, eta };
  }

  @Post('allocate')
  @HttpCode(202)
  @ApiOperation({ summary: 'Allocate an order line to the best batch (warehouse stock first, then earliest ETA)' })
  @ApiResponse({ status: 202, type: AllocateResponse, description: 'Allocated (or already allocated with the same qty)' })
  @invalidBody(['sku is required', 'qty must not be less than 1'], { 'Unknown sku': 'Invalid sku RED-CHAIR' })
  @ApiErrorResponse(409, 'Out of stock (the OutOfStock event is published), or the line is already allocated with another qty', {
    'Out of stock': 'Out of stock for sku RED-CHAIR',
    'Line allocated with another qty': 'Order order-001 already has 10 of sku RED-CHAIR allocated; a line cannot change its quantity',
  })
  @commandUnavailable
  async allocate(@Body() body: AllocateRequest): Promise<AllocateResponse> {
    const outcome = await this.commandBus.execute(new Allocate(body.orderid, body.sku, body.qty));
    if (outcome.kind === 'out-of-stock') throw new ConflictException(`Out of stock for sku ${body.sku}`);
    return { batchref: outcome.batchref };
  }

  @Post('change_batch_quantity')
  @HttpCode(200)
  @ApiOperation({ summary: "Change a batch's purchased quantity; lines that no longer fit are reallocated" })
  @ApiResponse({
    status: 200,
    type: ChangeBatchQuantityResponse,
    description: 'Changed; lines that no longer fit are deallocated and then reallocated asynchronously',
  })
  @invalidBody(['ref is required', 'qty must not be less than 0'])
  @ApiErrorResponse(404, 'Unknown batch', { 'Unknown batch': 'Unknown batch batch-001' })
  @commandUnavailable
  async changeBatchQuantity(@Body() body: ChangeBatchQuantityRequest): Promise<ChangeBatchQuantityResponse> {
    await this.commandBus.execute(new ChangeBatchQuantity(body.ref, body.qty));
    return { ref: body.ref, qty: body.qty };
  }

  @Post('cancel_allocation')
  @HttpCode(200)
  @ApiOperation({ summary: "Cancel an order line's allocation: its stock is free again, and AllocationCancelled is published" })
  @ApiResponse({ status: 200, type: CancelAllocationResponse, description: 'Cancelled: the line as it was allocated, and the batch it left' })
  @invalidBody(['orderid is required', 'sku is required'])
  @ApiErrorResponse(404, 'The line is not allocated (never was, or already cancelled: a retry after success sees 404)', {
    'Not allocated': 'Order order-001 has no allocated line of sku RED-CHAIR',
  })
  @commandUnavailable
  async cancelAllocation(@Body() body: CancelAllocationRequest): Promise<CancelAllocationResponse> {
    return this.commandBus.execute(new CancelAllocation(body.orderid, body.sku));
  }

  @Get('allocations/:orderid')
  @ApiOperation({ summary: "An order's allocated lines" })
  @ApiResponse({ status: 200, type: [AllocationLineResponse], description: "The order's lines and the batch each is allocated to" })
  @invalidParameter('orderid')
  @ApiErrorResponse(404, 'Nothing allocated to that order', { 'No allocations': 'No allocations for order order-001' })
  @queryUnavailable
  async allocations(@Param('orderid', new IdentifierPipe('orderid')) orderid: string): Promise<AllocationLineResponse[]> {
    const lines = await this.queryBus.execute(new GetAllocations(orderid));
    if (lines.length === 0) throw new NotFoundException(`No allocations for order ${orderid}`);
    return lines;
  }

  @Get('products/:sku')
  @ApiOperation({ summary: "A product's batches and stock" })
  @ApiResponse({ status: 200, type: ProductResponse, description: 'The product, its version and its batches' })
  @invalidParameter('sku')
  @ApiErrorResponse(404, 'Unknown sku', { 'Unknown sku': 'Unknown sku RED-CHAIR' })
  @queryUnavailable
  async product(@Param('sku', new IdentifierPipe('sku')) sku: string): Promise<ProductResponse> {
    const product = await this.queryBus.execute(new GetProduct(sku));
    if (!product) throw new NotFoundException(`Unknown sku ${sku}`);
    return product;
  }
}
