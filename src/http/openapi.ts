import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, getSchemaPath, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { ErrorResponse, errorExamples, TOO_LARGE } from './error-response.js';

/**
 * The document served at /docs-json. What the controllers' decorators cannot say per route is added here,
 * for every route alike: the X-Request-Id header (requestIdMiddleware), Retry-After on each 503 (ErrorFilter),
 * and the 413 of the JSON body parser (1 MB, app.ts) on each POST.
 */
export function createOpenApiDocument(app: INestApplication): OpenAPIObject {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Allocation service')
      .setDescription('Allocates order lines to batches of stock (Architecture Patterns with Python, on NestJS CQRS).')
      .setVersion('1.0')
      .addSecurity('bearer', {
        type: 'http',
        scheme: 'bearer',
        description: 'The static token configured in ADMIN_TOKEN: `Authorization: Bearer <ADMIN_TOKEN>`',
      })
      .build(),
  );
  addCommonParts(document);
  return document;
}

const requestId = 'X-Request-Id';
const retryAfter = 'Retry-After';

function addCommonParts(document: OpenAPIObject): void {
  const components = (document.components ??= {});
  components.headers = {
    ...components.headers,
    [requestId]: {
      description: 'The request id: the X-Request-Id sent, when it is 1 to 200 of `A-Za-z0-9_.:-`, else a new UUID. It is in every log line and event the request causes',
      schema: { type: 'string' },
    },
    [retryAfter]: { description: 'Seconds to wait before trying again', schema: { type: 'integer', minimum: 0 } },
  };
  components.parameters = {
    ...components.parameters,
    [requestId]: {
      name: requestId,
      in: 'header',
      required: false,
      description: 'An id to trace the request by (1 to 200 of `A-Za-z0-9_.:-`); echoed in the answer. Absent or unusable: the service makes one up',
      schema: { type: 'string' },
    },
  };
  for (const item of Object.values(document.paths)) {
    for (const method of ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const) {
      const operation = item[method];
      if (!operation) continue;
      operation.parameters = [...(operation.parameters ?? []), { $ref: `#/components/parameters/${requestId}` }];
      if (method === 'post') {
        operation.responses['413'] ??= {
          description: 'The body is larger than 1 MB',
          content: {
            'application/json': {
              schema: { $ref: getSchemaPath(ErrorResponse) },
              examples: errorExamples(413, { 'Body over 1 MB': TOO_LARGE }),
            },
          },
        };
      }
      for (const [status, response] of Object.entries(operation.responses)) {
        if (!response || '$ref' in response) continue;
        response.headers = {
          ...response.headers,
          [requestId]: { $ref: `#/components/headers/${requestId}` },
          ...(status === '503' ? { [retryAfter]: { $ref: `#/components/headers/${retryAfter}` } } : {}),
        };
      }
    }
  }
}
