// A child process for the tracing tests (run from dist/, with node, not under jest: jest's module system
// bypasses the loader hook, so instrumentation can only be seen in a real process). It starts tracing
// exactly as main.ts does, with the SDK's in-memory exporter in place of OTLP, then imports the
// application and obeys its parent over IPC: start and close app instances, simulate a crash after
// commit, hand over the finished spans. Log lines (JSON) go to stdout.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { startTracing } from '../../src/tracing/tracing.js';

const exporter = new InMemorySpanExporter();
const ms = ([seconds, nanos]: [number, number]) => seconds * 1e3 + nanos / 1e6;
await startTracing({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
// Only now: the application's modules must load after the hook.
const { createApp } = await import('../../src/app.js');
const { createRootLogger } = await import('../../src/logging/logger.js');
const { EventPublisher } = await import('../../src/messaging/event-publisher.js');
const { testConfig } = await import('./config.js');

export interface SpanRecord {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  startMs: number;
  endMs: number;
  status: number;
  attributes: Record<string, unknown>;
}

export type Request =
  | { op: 'start'; name: string; env: Record<string, string> }
  | { op: 'deadAfterCommit'; name: string }
  | { op: 'close'; name: string }
  | { op: 'spans' };

type App = Awaited<ReturnType<typeof createApp>>;
const apps = new Map<string, App>();
const logger = createRootLogger({ logLevel: 'info', logFormat: 'json' }, process.stdout);

async function handle(request: Request): Promise<unknown> {
  switch (request.op) {
    case 'start': {
      const app = await createApp(testConfig({ LOG_LEVEL: 'info', ...request.env }), logger);
      await app.listen(0, '127.0.0.1');
      apps.set(request.name, app);
      return { port: ((app.getHttpServer() as Server).address() as AddressInfo).port };
    }
    case 'deadAfterCommit': {
      // The process "dies" right after each commit: nothing is dispatched (the relay of another instance
      // delivers the events once their lease runs out).
      const publisher = apps.get(request.name)!.get(EventPublisher);
      publisher.publish = async () => undefined;
      return {};
    }
    case 'close':
      await apps.get(request.name)?.close();
      apps.delete(request.name);
      return {};
    case 'spans':
      return exporter.getFinishedSpans().map(
        (s): SpanRecord => ({
          name: s.name,
          kind: s.kind,
          traceId: s.spanContext().traceId,
          spanId: s.spanContext().spanId,
          parentSpanId: s.parentSpanContext?.spanId,
          startMs: ms(s.startTime),
          endMs: ms(s.endTime),
          status: s.status.code,
          attributes: { ...s.attributes },
        }),
      );
  }
}

process.on('message', (message: { id: number; request: Request }) => {
  handle(message.request).then(
    (result) => process.send!({ id: message.id, result }),
    (error: Error) => process.send!({ id: message.id, error: error.stack ?? error.message }),
  );
});
process.send!({ ready: true });
