import { ApiProperty } from '@nestjs/swagger';
import { Identifier } from '../../http/validators.js';

export class CancelAllocationRequest {
  @Identifier('Order id', 'order-001')
  orderid: string;

  @Identifier('Stock-keeping unit', 'RED-CHAIR')
  sku: string;
}

export class CancelAllocationResponse {
  @ApiProperty({ example: 'order-001' }) orderid: string;
  @ApiProperty({ example: 'RED-CHAIR' }) sku: string;
  @ApiProperty({ type: 'integer', example: 10, description: 'The quantity freed' }) qty: number;
  @ApiProperty({ example: 'batch-001', description: 'The batch the line was allocated to' }) batchref: string;
}
