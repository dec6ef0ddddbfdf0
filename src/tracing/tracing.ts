import { register } from 'node:module';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import type { Request } from 'express';
import { routeTemplate } from '../logging/request-log.js';
import { enableTracing } from './trace-context.js';

export interface Tracing {
  /** Ends the SDK: exports the spans still buffered. */
  shutdown(): Promise<void>;
}

/** Tracing is on when an OTLP endpoint is configured (the standard variables), unless OTEL_SDK_DISABLED. */
export function tracingConfigured(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) && env.OTEL_SDK_DISABLED?.trim().toLowerCase() !== 'true';
}

/**
 * Starts OpenTelemetry: HTTP, PostgreSQL and Redis spans from the standard instrumentations, the service's
 * own spans (trace-context.ts), W3C trace context, and the exporter and everything else as the standard
 * `OTEL_*` variables say (OTLP over HTTP, http/protobuf, by default). Off, it loads nothing at all.
 *
 * It must run before the application's modules are imported (main.ts imports them afterwards): Nest 12 is
 * ESM, and instrumentations see ES modules only through the loader hook registered here, for modules
 * imported after it. The SDK reads its settings from `process.env`. `spanProcessors` replaces the exporter
 * (the tests collect spans in memory).
 */
export async function startTracing(options: { spanProcessors?: SpanProcessor[] } = {}): Promise<Tracing | undefined> {
  const env = process.env;
  if (!options.spanProcessors && !tracingConfigured(env)) return undefined;
  const { createAddHookMessageChannel } = await import('import-in-the-middle');
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, registerOptions);

  const [{ NodeSDK }, { HttpInstrumentation }, { PgInstrumentation }, { IORedisInstrumentation }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/instrumentation-http'),
    import('@opentelemetry/instrumentation-pg'),
    import('@opentelemetry/instrumentation-ioredis'),
  ]);
  // Traces only: metrics are Prometheus's (/metrics), logs are stdout's. Either can still be exported by
  // setting its standard variable.
  env.OTEL_METRICS_EXPORTER ??= 'none';
  env.OTEL_LOGS_EXPORTER ??= 'none';
  const named = env.OTEL_SERVICE_NAME || /(^|,)\s*service\.name=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? '');
  const sdk = new NodeSDK({
    ...(named ? {} : { serviceName: 'allocation-service' }),
    ...(options.spanProcessors ? { spanProcessors: options.spanProcessors } : {}),
    instrumentations: [
      new HttpInstrumentation({
        // Probes and scrapes every few seconds would bury the traces that matter.
        ignoreIncomingRequestHook: (req) => /^\/(health|metrics)(\/|\?|$)/.test(req.url ?? ''),
        // Named by Express's route template (`POST /allocate`, `GET /allocations/:orderid`), never raw ids.
        applyCustomAttributesOnSpan: (span, request) => {
          const route = 'route' in request ? routeTemplate(request as Request) : undefined;
          if (route === undefined) return;
          span.setAttribute('http.route', route);
          span.updateName(`${(request as Request).method} ${route}`);
        },
      }),
      new PgInstrumentation({ requireParentSpan: true }),
      new IORedisInstrumentation({ requireParentSpan: true }),
    ],
  });
  sdk.start();
  // The loader must know which modules to hook before the application imports them.
  await waitForAllMessagesAcknowledged();
  enableTracing();
  return { shutdown: () => sdk.shutdown() };
}
