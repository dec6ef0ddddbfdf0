import { type DynamicModule, Module, RequestMethod } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import pretty from 'pino-pretty';
import type { AppConfig } from '../config/config.js';
import { requestIdForLogs } from './request-context.js';

/** Structured logs (pino): JSON by default, readable with LOG_FORMAT=pretty; every line carries the request id. */
@Module({})
export class LoggingModule {
  static forRoot(config: AppConfig): DynamicModule {
    const options = {
      level: config.logLevel,
      quietReqLogger: true,
      customAttributeKeys: { reqId: 'requestId' },
      // Outside the HTTP request (event handlers, the relay) the id comes from our own context.
      mixin: () => {
        const requestId = requestIdForLogs();
        return requestId ? { requestId } : {};
      },
      // Probes poll these; a line per probe would drown the request log.
      autoLogging: { ignore: (req: { url?: string }) => /^\/(health(\/(live|ready))?|metrics)(\?|$)/.test(req.url ?? '') },
    };
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: config.logFormat === 'pretty' ? [options, pretty({ sync: true, colorize: true })] : options,
          // Request logs are written at info: above it, skip pino-http's per-request work altogether (the
          // request id still reaches every line through our own context).
          ...(quietHttp(config.logLevel) ? { forRoutes: [{ path: '__no_request_logging__', method: RequestMethod.ALL }] } : {}),
        }),
      ],
      exports: [LoggerModule],
    };
  }
}

function quietHttp(level: AppConfig['logLevel']): boolean {
  return ['warn', 'error', 'fatal', 'silent'].includes(level);
}
