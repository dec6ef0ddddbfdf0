import { ApiProperty } from '@nestjs/swagger';
import { IsOptional } from 'class-validator';
import { IsCalendarDate, Identifier, Quantity } from '../../http/validators.js';

export class CreateBatchRequest {
  @Identifier('Batch reference, unique across all SKUs', 'batch-001')
  ref: string;

  @Identifier('Stock-keeping unit', 'RED-CHAIR')
  sku: string;

  @Quantity(1, { description: 'Purchased units', example: 100 })
  qty: number;

  @ApiProperty({
    description: 'Expected arrival (YYYY-MM-DD); null or absent for stock already in the warehouse',
    example: '2026-12-24',
    type: String,
    format: 'date',
    nullable: true,
    required: false,
  })
  @IsOptional()
  @IsCalendarDate()
  eta?: string | null;
}

export class CreateBatchResponse {
  @ApiProperty({ example: 'batch-001' }) ref: string;
  @ApiProperty({ example: 'RED-CHAIR' }) sku: string;
  @ApiProperty({ type: 'integer', example: 100 }) qty: number;
  @ApiProperty({ type: String, format: 'date', nullable: true, example: null }) eta: string | null;
}
