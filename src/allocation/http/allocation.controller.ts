import { Body, ConflictException, Controller, Get, HttpCode, NotFoundException, Param, Post } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiBadRequestResponse, ApiConflictResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { ErrorResponse } from '../../http/error-response.js';
import { Allocate } from '../commands/allocate/allocate.command.js';
import { AllocateRequest, AllocateResponse } from '../commands/allocate/allocate.request.js';
import { ChangeBatchQuantity } from '../commands/change-batch-quantity/change-batch-quantity.command.js';
import { ChangeBatchQuantityRequest, ChangeBatchQuantityResponse } from '../commands/change-batch-quantity/change-batch-quantity.request.js';
import { CreateBatch } from '../commands/create-batch/create-batch.command.js';
import { CreateBatchRequest, CreateBatchResponse } from '../commands/create-batch/create-batch.request.js';
import { GetAllocations } from '../queries/get-allocations/get-allocations.query.js';
import { GetProduct } from '../queries/get-product/get-product.query.js';
import { IdentifierPipe } from './identifier.pipe.js';
import { AllocationLineResponse, ProductResponse } from './views.js';

/** Translates HTTP to commands and queries; the rules live in the domain. */
@ApiTags('allocation')
@ApiBadRequestResponse({ type: ErrorResponse, description: 'Invalid body or parameter' })
@ApiServiceUnavailableResponse({ type: ErrorResponse, description: 'Database unreachable or persistent contention; see Retry-After' })
@Controller()
export class AllocationController {
  constructor(
    private readonly commandBus: CommandBus,
    private readonly queryBus: QueryBus,
  ) {}

  @Post('add_batch')
  @HttpCode(201)
  @ApiOperation({ summary: 'Add a batch of stock' })
  @ApiResponse({ status: 201, type: CreateBatchResponse })
  @ApiConflictResponse({ type: ErrorResponse, description: 'A batch with that ref exists' })
  async addBatch(@Body() body: CreateBatchRequest): Promise<CreateBatchResponse> {
    const eta = body.eta ?? null;
    await this.commandBus.execute(new CreateBatch(body.ref, body.sku, body.qty, eta));
    return { ref: body.ref, sku: body.sku, qty: body.qty, eta };
  }

  @Post('allocate')
  @HttpCode(202)
  @ApiOperation({ summary: 'Allocate an order line to the best batch (warehouse stock first, then earliest ETA)' })
  @ApiResponse({ status: 202, type: AllocateResponse, description: 'Allocated (or already allocated with the same qty)' })
  @ApiBadRequestResponse({ type: ErrorResponse, description: 'Invalid body, or "Invalid sku <sku>" when no batch ever had that sku' })
  @ApiConflictResponse({ type: ErrorResponse, description: '"Out of stock for sku <sku>", or the line is already allocated with another qty' })
  async allocate(@Body() body: AllocateRequest): Promise<AllocateResponse> {
    const outcome = await this.commandBus.execute(new Allocate(body.orderid, body.sku, body.qty));
    if (outcome.kind === 'out-of-stock') throw new ConflictException(`Out of stock for sku ${body.sku}`);
    return { batchref: outcome.batchref };
  }

  @Post('change_batch_quantity')
  @HttpCode(200)
  @ApiOperation({ summary: "Change a batch's purchased quantity; lines that no longer fit are reallocated" })
  @ApiOkResponse({ type: ChangeBatchQuantityResponse })
  @ApiNotFoundResponse({ type: ErrorResponse, description: 'Unknown batch' })
  async changeBatchQuantity(@Body() body: ChangeBatchQuantityRequest): Promise<ChangeBatchQuantityResponse> {
    await this.commandBus.execute(new ChangeBatchQuantity(body.ref, body.qty));
    return { ref: body.ref, qty: body.qty };
  }

  @Get('allocations/:orderid')
  @ApiOperation({ summary: "An order's allocated lines" })
  @ApiOkResponse({ type: [AllocationLineResponse] })
  @ApiNotFoundResponse({ type: ErrorResponse, description: 'Nothing allocated to that order' })
  async allocations(@Param('orderid', new IdentifierPipe('orderid')) orderid: string): Promise<AllocationLineResponse[]> {
    const lines = await this.queryBus.execute(new GetAllocations(orderid));
    if (lines.length === 0) throw new NotFoundException(`No allocations for order ${orderid}`);
    return lines;
  }

  @Get('products/:sku')
  @ApiOperation({ summary: "A product's batches and stock" })
  @ApiOkResponse({ type: ProductResponse })
  @ApiNotFoundResponse({ type: ErrorResponse, description: 'Unknown sku' })
  async product(@Param('sku', new IdentifierPipe('sku')) sku: string): Promise<ProductResponse> {
    const product = await this.queryBus.execute(new GetProduct(sku));
    if (!product) throw new NotFoundException(`Unknown sku ${sku}`);
    return product;
  }
}
