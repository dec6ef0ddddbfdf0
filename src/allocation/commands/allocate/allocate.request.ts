import { ApiProperty } from '@nestjs/swagger';
import { Identifier, Quantity } from '../../http/validators.js';

export class AllocateRequest {
  @Identifier('Order id', 'order-001')
  orderid: string;

  @Identifier('Stock-keeping unit', 'RED-CHAIR')
  sku: string;

  @Quantity(1, { description: 'Units to allocate', example: 10 })
  qty: number;
}

export class AllocateResponse {
  @ApiProperty({ description: 'The batch the line is allocated to', example: 'batch-001' })
  batchref: string;
}
