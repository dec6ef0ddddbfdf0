import type { LoggerService, LogLevel } from '@nestjs/common';
import type { Logger } from 'pino';

/** Nest's start-up chatter (modules loaded, routes mapped): useful when debugging, noise otherwise. */
const BOOTSTRAP_CONTEXTS = new Set(['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestApplication']);

type PinoLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * Nest's logger interface over our pino logger, so that Nest's lines and ours share one stream, one format
 * and one order. `Logger.log({ msg, ...fields })` keeps the fields as JSON properties.
 */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly pino: Logger) {}

  log(message: unknown, ...rest: unknown[]): void {
    this.write('info', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('trace', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }
  setLogLevels(_levels: LogLevel[]): void {
    // The level is LOG_LEVEL's, set on the pino logger.
  }

  private write(level: PinoLevel, message: unknown, rest: unknown[]): void {
    const params = [...rest];
    // Nest passes the context last, and for errors the stack before it.
    const context = params.length > 0 && typeof params.at(-1) === 'string' ? (params.pop() as string) : undefined;
    if (level === 'info' && context && BOOTSTRAP_CONTEXTS.has(context)) level = 'debug';
    if (!this.pino.isLevelEnabled(level)) return;
    const stack = level === 'error' && typeof params[0] === 'string' ? (params[0] as string) : undefined;
    if (message instanceof Error) {
      this.pino[level]({ context, err: message }, message.message);
    } else if (typeof message === 'object' && message !== null) {
      const { msg, ...fields } = message as Record<string, unknown>;
      this.pino[level]({ context, ...fields, ...(stack ? { stack } : {}) }, typeof msg === 'string' ? msg : undefined);
    } else {
      this.pino[level]({ context, ...(stack ? { stack } : {}) }, String(message));
    }
  }
}
