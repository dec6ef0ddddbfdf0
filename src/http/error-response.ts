import { HttpStatus, type Type } from '@nestjs/common';
import { ApiProperty, ApiResponse } from '@nestjs/swagger';

/** The `error` field of an error answer: the status's reason phrase ("Service Unavailable"). */
export function statusText(status: number): string | undefined {
  return HttpStatus[status]?.toString().replace(/_/g, ' ').toLowerCase().replace(/\b\w/g, (c) => c.toUpperCase());
}

/** The body of every 4xx and 5xx answer. Examples are per response (see ApiErrorResponse), not here. */
export class ErrorResponse {
  @ApiProperty({ type: 'integer', description: 'The HTTP status of the answer' }) statusCode: number;
  @ApiProperty({
    oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
    description: 'What went wrong; for validation errors a list, one message per faulty field',
  })
  message: string | string[];
  @ApiProperty({ required: false, description: 'The reason phrase of the status' }) error?: string;
}

/**
 * Documents one error status with examples of its own: `messages` maps each example's summary to its
 * `message`; `fields` adds to every example body (for a `type` that extends ErrorResponse).
 */
export function ApiErrorResponse(
  status: number,
  description: string,
  messages: Record<string, string | string[]>,
  { type = ErrorResponse, fields = {} }: { type?: Type; fields?: Record<string, unknown> } = {},
): MethodDecorator & ClassDecorator {
  return ApiResponse({ status, description, type, examples: errorExamples(status, messages, fields) });
}

export function errorExamples(status: number, messages: Record<string, string | string[]>, fields: Record<string, unknown> = {}) {
  return Object.fromEntries(
    Object.entries(messages).map(([summary, message]) => [
      summary,
      { summary, value: { ...fields, statusCode: status, message, error: statusText(status) } },
    ]),
  );
}

/** Example messages several routes share: the texts of src/database, and of the JSON parser as Nest passes them on. */
export const UNAVAILABLE = 'The database is unavailable; try again later';
export const CONTENDED = 'Too much contention on this product; try again';
export const MALFORMED_JSON = 'Expected double-quoted property name in JSON at position 13';
export const TOO_LARGE = 'request entity too large';
