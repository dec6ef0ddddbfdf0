import { ApiProperty } from '@nestjs/swagger';

export class AllocationLineResponse {
  @ApiProperty({ example: 'RED-CHAIR' }) sku: string;
  @ApiProperty({ example: 'batch-001' }) batchref: string;
}

export class BatchResponse {
  @ApiProperty({ example: 'batch-001' }) ref: string;
  @ApiProperty({ type: String, format: 'date', nullable: true, example: null }) eta: string | null;
  @ApiProperty({ type: 'integer', description: 'Purchased quantity', example: 100 }) qty: number;
  @ApiProperty({ type: 'integer', description: 'Sum of the allocated lines', example: 10 }) allocated: number;
  @ApiProperty({ type: 'integer', description: 'qty - allocated, never negative', example: 90 }) available: number;
}

export class ProductResponse {
  @ApiProperty({ example: 'RED-CHAIR' }) sku: string;
  @ApiProperty({ type: 'integer', description: 'Bumped by every change to the product', example: 3 }) version: number;
  @ApiProperty({ type: [BatchResponse], description: 'In allocation preference order' }) batches: BatchResponse[];
}
