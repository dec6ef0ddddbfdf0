import { context, INVALID_SPAN_CONTEXT, propagation, ROOT_CONTEXT, type Context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';

/**
 * The service's own spans (commands, event deliveries, stream entries) and the trace context it stores and
 * carries. Only the OpenTelemetry API is used here: with tracing off (no SDK started, see tracing.ts) every
 * call is a no-op, and stored trace contexts are simply null.
 */
export const tracer = trace.getTracer('allocation-service');

/** Set once the SDK has started (tracing.ts): until then nothing here does any work. */
let enabled = false;
const NOT_RECORDING = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

export function enableTracing(): void {
  enabled = true;
}

/** The active trace context as a W3C `traceparent`, or undefined when nothing is traced. */
export function currentTraceparent(): string | undefined {
  if (!enabled) return undefined;
  const carrier: { traceparent?: string } = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
}

/** The context a stored or received `traceparent` continues (none: a new trace). */
export function contextOf(traceparent: string | null | undefined): Context {
  return traceparent ? propagation.extract(ROOT_CONTEXT, { traceparent }) : ROOT_CONTEXT;
}

/** `trace_id` and `span_id` of the active span, for log lines. */
export function traceFields(): { trace_id: string; span_id: string } | undefined {
  if (!enabled) return undefined;
  const span = trace.getSpan(context.active());
  if (!span) return undefined;
  const { traceId, spanId } = span.spanContext();
  return trace.isSpanContextValid(span.spanContext()) ? { trace_id: traceId, span_id: spanId } : undefined;
}

export interface SpanOptions {
  kind?: SpanKind;
  /** Computed only when tracing is on. */
  attributes?: () => Record<string, string | number | boolean>;
  /** Where the span belongs; the active context if not given. */
  parent?: Context;
}

/** Runs `work` in a new active span, which records its error (and rethrows it) and ends when `work` does. */
export async function inSpan<T>(name: string, options: SpanOptions, work: (span: Span) => Promise<T>): Promise<T> {
  if (!enabled) return work(NOT_RECORDING);
  return tracer.startActiveSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes?.() }, options.parent ?? context.active(), async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** A span that is not made active (its caller ends it); a non-recording one with tracing off. */
export function startSpan(name: string, options: SpanOptions): Span {
  if (!enabled) return NOT_RECORDING;
  return tracer.startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes?.() }, options.parent ?? context.active());
}

export { SpanKind, SpanStatusCode };
