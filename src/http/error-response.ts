import { ApiProperty } from '@nestjs/swagger';

/** The body of every 4xx and 5xx answer. */
export class ErrorResponse {
  @ApiProperty({ example: 400 }) statusCode: number;
  @ApiProperty({
    oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
    example: 'Invalid sku RED-CHAIR',
    description: 'What went wrong; a list for validation errors',
  })
  message: string | string[];
  @ApiProperty({ example: 'Bad Request', required: false }) error?: string;
}
