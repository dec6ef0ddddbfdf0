import { ApiProperty } from '@nestjs/swagger';
import { Identifier, Quantity } from '../../http/validators.js';

export class ChangeBatchQuantityRequest {
  @Identifier('Batch reference', 'batch-001')
  ref: string;

  @Quantity(0, { description: 'New purchased quantity; lines that no longer fit are reallocated', example: 20 })
  qty: number;
}

export class ChangeBatchQuantityResponse {
  @ApiProperty({ example: 'batch-001' }) ref: string;
  @ApiProperty({ type: 'integer', example: 20 }) qty: number;
}
