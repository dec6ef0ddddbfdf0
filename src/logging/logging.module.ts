import { type DynamicModule, Module } from '@nestjs/common';
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
      autoLogging: { ignore: (req: { url?: string }) => req.url === '/health' || req.url === '/metrics' },
    };
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: config.logFormat === 'pretty' ? [options, pretty({ sync: true, colorize: true })] : options,
        }),
      ],
      exports: [LoggerModule],
    };
  }
}
