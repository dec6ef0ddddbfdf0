import { context, INVALID_SPAN_CONTEXT, type Link, propagation, ROOT_CONTEXT, type Context, type Span, type SpanContext, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { withRequestId } from '../logging/request-context.js';

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
  /** Other spans it relates to (an operator's request that retried a delivery). */
  links?: () => Link[];
}

/** Runs `work` in a new active span, which records its error (and rethrows it) and ends when `work` does. */
export async function inSpan<T>(name: string, options: SpanOptions, work: (span: Span) => Promise<T>): Promise<T> {
  if (!enabled) return work(NOT_RECORDING);
  return tracer.startActiveSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes?.(), links: options.links?.() }, options.parent ?? context.active(), async (span) => {
    try {
      return await work(span);
    } catch (error) {
      markFailed(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Marks a span failed, with the error recorded on it. */
export function markFailed(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

/** The active span's context, to link to (undefined when nothing is traced). */
export function activeSpanContext(): SpanContext | undefined {
  return enabled ? trace.getSpanContext(context.active()) : undefined;
}

/**
 * Runs `work` outside any request and trace. For what serves many requests from one place (the relay's
 * passes, lease renewals, dispatch marks): a timer started under a request would otherwise carry that
 * request's id and trace into all its later runs.
 */
export function background<T>(work: () => T): T {
  return withRequestId(undefined, () => (enabled ? context.with(ROOT_CONTEXT, work) : work()));
}

/** A span that is not made active (its caller ends it); a non-recording one with tracing off. */
export function startSpan(name: string, options: SpanOptions): Span {
  if (!enabled) return NOT_RECORDING;
  return tracer.startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes?.(), links: options.links?.() }, options.parent ?? context.active());
}

export { SpanKind };
export type { SpanContext };
