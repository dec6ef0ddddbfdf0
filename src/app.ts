import { BadRequestException, type INestApplication, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module.js';
import type { AppConfig } from './config/config.js';
import { ErrorFilter } from './http/error.filter.js';
import { createOpenApiDocument } from './http/openapi.js';
import { hardenHttpServer } from './http/http-server.js';
import { jsonBodyGuard } from './http/json-body.js';
import { createRootLogger, type Logger } from './logging/logger.js';
import { NestPinoLogger } from './logging/nest-logger.js';
import { requestLog } from './logging/request-log.js';
import { httpMetrics } from './http/http-metrics.js';

/** Builds the whole application (used by main.ts and by the e2e tests). `config.databaseUrl` must be set. */
export async function createApp(config: AppConfig, logger: Logger = createRootLogger(config)): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    bodyParser: false,
    logger: new NestPinoLogger(logger),
  });
  // JSON API answers: no ETag hashing of every body, and no framework banner.
  app.set('etag', false);
  app.disable('x-powered-by');
  hardenHttpServer(app.getHttpServer(), config, logger);
  app.use(requestLog(logger));
  app.use(httpMetrics);
  app.useBodyParser('json', { limit: '1mb' });
  app.use(jsonBodyGuard);
  app.useGlobalFilters(new ErrorFilter());
  app.useGlobalPipes(
    new ValidationPipe({
      whitelist: true,
      forbidUnknownValues: true,
      transform: true,
      transformOptions: { enableImplicitConversion: false },
      // One message per faulty field: the first of its checks that fails.
      stopAtFirstError: true,
      exceptionFactory: (errors) =>
        new BadRequestException(
          errors.length === 0
            ? ['body must be a JSON object']
            : errors.map((e) => Object.values(e.constraints ?? {})[0] ?? `${e.property} is invalid`),
        ),
    }),
  );
  SwaggerModule.setup('docs', app, createOpenApiDocument(app), { jsonDocumentUrl: 'docs-json' });
  await app.init();
  return app;
}
