import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, HttpStatus } from '@nestjs/common';
import type { Response } from 'express';
import { asTemporarilyUnavailable, RETRY_AFTER } from '../database/database-errors.js';
import { recordFailure } from '../logging/request-log.js';
import { DomainError, DuplicateBatch, InvalidSku, LineNotAllocated, OrderLineConflict, UnknownBatch } from '../allocation/domain/errors.js';
import { statusText } from './error-response.js';

interface HttpError {
  status: number;
  message: string | string[];
  retryAfter?: number;
  /** Further fields of the body (e.g. the health check's per-dependency details). */
  extra?: Record<string, unknown>;
}

const DOMAIN_STATUS = new Map<Function, number>([
  [InvalidSku, HttpStatus.BAD_REQUEST],
  [UnknownBatch, HttpStatus.NOT_FOUND],
  [DuplicateBatch, HttpStatus.CONFLICT],
  [OrderLineConflict, HttpStatus.CONFLICT],
  [LineNotAllocated, HttpStatus.NOT_FOUND],
]);

/**
 * Turns every error into a JSON answer with a `message`; only the unexpected ones are 500s. The request's
 * one log line (request-log.ts) carries the reason: the error with its stack for a 500, the cause of a 503.
 */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const error = this.translate(exception);
    recordFailure(response, {
      message: error.message,
      error: error.status === HttpStatus.SERVICE_UNAVAILABLE ? ((exception as Error)?.cause ?? exception) : error.status >= 500 ? exception : undefined,
    });
    if (response.headersSent) return;
    if (error.retryAfter !== undefined) response.setHeader('Retry-After', String(error.retryAfter));
    response.status(error.status).json({
      ...error.extra,
      statusCode: error.status,
      message: error.message,
      error: statusText(error.status),
    });
  }

  private translate(exception: unknown): HttpError {
    if (exception instanceof HttpException) {
      const body = exception.getResponse();
      const message =
        typeof body === 'string' ? body : ((body as { message?: string | string[] }).message ?? exception.message);
      const status = exception.getStatus();
      const extra = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : undefined;
      return { status, message, retryAfter: status === 503 ? RETRY_AFTER.outage : undefined, extra };
    }
    if (exception instanceof DomainError) {
      return { status: DOMAIN_STATUS.get(exception.constructor) ?? HttpStatus.UNPROCESSABLE_ENTITY, message: exception.message };
    }
    const unavailable = asTemporarilyUnavailable(exception);
    if (unavailable) {
      return { status: HttpStatus.SERVICE_UNAVAILABLE, message: unavailable.message, retryAfter: unavailable.retryAfterSeconds };
    }
    // Errors of the body parser (malformed JSON, too large, bad charset) carry their own 4xx status.
    const parser = exception as { status?: number; expose?: boolean; type?: string; message?: string };
    if (typeof parser?.status === 'number' && parser.status >= 400 && parser.status < 500) {
      const message =
        parser.type === 'entity.parse.failed'
          ? `Malformed JSON body: ${parser.message}`
          : parser.type === 'entity.too.large'
            ? 'Request body is larger than 1 MB'
            : (parser.message ?? 'Bad request');
      return { status: parser.status, message };
    }
    return { status: HttpStatus.INTERNAL_SERVER_ERROR, message: 'Internal server error' };
  }
}
