/**
 * OpenTelemetry tracing for a Herald, through `@opentelemetry/api` only: the SDK, its sampler and
 * exporter are the application's. With no SDK registered every span is the API's no-op one and no
 * trace context is stored. Built on `herald.telemetry` (span wrappers and the metadata enricher);
 * nothing of OpenTelemetry is in Herald's core.
 *
 * Spans, and how they relate (messaging semantic conventions):
 * - `append <context>` (PRODUCER), child of the caller's active span. Its context is stored in
 *   every appended event's metadata (`traceparent`, `tracestate`): the message's creation context.
 * - `handle <subscription>` (CONSUMER), one per handler call, **child** of the event's stored
 *   context: one event per span, in the same database, so the trace of the request that appended
 *   the event shows what each subscription did with it (the conventions allow the creation
 *   context as parent when a span processes one message). Without a stored context: a new trace.
 * - `publish <context>` (CLIENT), one per page the relay publishes, a new trace **linked** to each
 *   message's creation context (a batch has many parents; at most {@link MAX_LINKS} links). The
 *   CloudEvents carry the stored context as their `traceparent` / `tracestate` attributes.
 * - `consume <consumer>` (CONSUMER), one per handler call, a new trace **linked** to the
 *   message's `traceparent`: messages arrive in broker batches and may be redelivered, in another
 *   service with its own sampling, which the conventions model with links, not parents.
 */
import {
  ProxyTracerProvider,
  type Attributes,
  type Context,
  context,
  type Link,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  type SpanOptions,
  SpanStatusCode,
  trace,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { ConfigError, describe } from '../errors.js';
import type { SpanEvent, Telemetry, TelemetrySpans } from '../runtime/telemetry.js';
import { traceContextOf } from '../transports/cloudevents.js';
import { storedSpanContext, traceMetadata } from './trace-context.js';

/** The most messages a `publish` span links to (the SDK's default span link limit). */
export const MAX_LINKS = 128;

/** What tracing needs of a Herald: its telemetry hooks. */
export interface TracedHerald {
  readonly telemetry: Pick<Telemetry, 'wrap' | 'enrichMetadata'>;
}

export interface TracingOptions {
  /** Where spans go. Default: the global provider (`trace.getTracerProvider()`), the SDK's once it registered. */
  readonly tracerProvider?: TracerProvider;
}

/** What {@link instrument} returns: `close()` removes the instrumentation. */
export interface Tracing {
  close(): void;
}

/**
 * Traces a Herald's appends, subscription handlers, relay publishes and consumer handlers, and
 * propagates the trace context through the log and the broker (see the module's comment).
 *
 * ```ts
 * import { instrument } from 'herald/tracing';
 * const tracing = instrument(orders); // after the OpenTelemetry SDK is set up
 * ```
 */
export function instrument(herald: TracedHerald, options: TracingOptions = {}): Tracing {
  const telemetry = herald?.telemetry;
  if (typeof telemetry?.wrap !== 'function' || typeof telemetry.enrichMetadata !== 'function') throw new ConfigError('instrument: pass a Herald');
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer('herald');
  const live = options.tracerProvider ? () => true : sdkRegistered;
  const removers = [
    telemetry.wrap('log:append', (m, work) => (live() ? inSpan(tracer, `append ${m.context}`, appendOptions(m), context.active(), work) : work())),
    // Runs inside the append span: its context is what the events carry.
    telemetry.enrichMetadata(() => {
      const span = trace.getSpan(context.active());
      return span ? traceMetadata(span.spanContext()) : undefined;
    }),
    telemetry.wrap('subscription:handle', (m, work) => {
      if (!live()) return work();
      const stored = storedSpanContext(m.event.metadata.custom);
      const parent = stored ? trace.setSpanContext(ROOT_CONTEXT, stored) : ROOT_CONTEXT;
      return inSpan(tracer, `handle ${m.subscription}`, handleOptions(m), parent, work);
    }),
    telemetry.wrap('relay:publish', (m, work) => (live() ? inSpan(tracer, `publish ${m.context}`, publishOptions(m), ROOT_CONTEXT, work) : work())),
    telemetry.wrap('consumer:handle', (m, work) => (live() ? inSpan(tracer, `consume ${m.consumer}`, consumeOptions(m), ROOT_CONTEXT, work) : work())),
  ];
  return { close: () => removers.forEach((remove) => remove()) };
}

/** The API's own no-op provider: what the global proxy delegates to until an SDK registers. */
const NO_SDK = new ProxyTracerProvider().getDelegate();

/**
 * Whether an SDK registered a global tracer provider. Until one does, the wrappers run the work
 * bare instead of making no-op spans and parsing stored contexts (one global look-up per span).
 */
function sdkRegistered(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider && provider.getDelegate() === NO_SDK);
}

/** Runs `work` as the active span under `parent`; a failure is recorded on the span and rethrown. */
async function inSpan(tracer: Tracer, name: string, options: SpanOptions, parent: Context, work: () => Promise<unknown>): Promise<unknown> {
  const span = tracer.startSpan(name, options, parent);
  try {
    return await context.with(trace.setSpan(parent, span), work);
  } catch (error) {
    failed(span, error);
    throw error;
  } finally {
    span.end();
  }
}

function failed(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : describe(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: describe(error) });
}

function messaging(operation: string, type: 'create' | 'send' | 'process', destination: string, more: Attributes): Attributes {
  return { 'messaging.system': 'herald', 'messaging.operation.name': operation, 'messaging.operation.type': type, 'messaging.destination.name': destination, ...more };
}

function appendOptions(m: TelemetrySpans['log:append']): SpanOptions {
  const batch = m.events > 1 ? { 'messaging.batch.message_count': m.events } : {};
  return { kind: SpanKind.PRODUCER, attributes: messaging('append', 'create', m.context, { 'herald.stream_id': m.streamId, ...batch }) };
}

function eventAttributes(event: SpanEvent): Attributes {
  const meta = event.metadata;
  return { 'messaging.message.id': meta.eventId, 'herald.event.type': event.type, 'herald.event.number': meta.eventNumber, 'herald.stream_id': meta.streamId, 'herald.stream_version': meta.streamVersion };
}

function handleOptions(m: TelemetrySpans['subscription:handle']): SpanOptions {
  return { kind: SpanKind.CONSUMER, attributes: messaging('handle', 'process', m.context, { 'messaging.consumer.group.name': m.subscription, ...eventAttributes(m.event) }) };
}

function publishOptions(m: TelemetrySpans['relay:publish']): SpanOptions {
  const links: Link[] = [];
  const seen = new Set<string>();
  for (const item of m.items) {
    const carried = traceContextOf(item.body);
    if (!carried || seen.has(carried.traceparent)) continue;
    seen.add(carried.traceparent);
    const linked = storedSpanContext(carried);
    if (linked) links.push({ context: linked });
    if (links.length === MAX_LINKS) break;
  }
  const attributes = messaging('publish', 'send', m.context, { 'herald.relay': m.relay, 'messaging.batch.message_count': m.messages });
  return { kind: SpanKind.CLIENT, links, attributes };
}

function consumeOptions(m: TelemetrySpans['consumer:handle']): SpanOptions {
  const linked = storedSpanContext(m.event.metadata.custom);
  // The sending context, as the received event names it; the consumer's own context is `herald.context`.
  const source = (m.event.metadata as { source?: unknown }).source;
  const attributes = messaging('consume', 'process', typeof source === 'string' ? source : m.context, {
    'messaging.consumer.group.name': m.consumer,
    'herald.context': m.context,
    ...eventAttributes(m.event),
  });
  return { kind: SpanKind.CONSUMER, links: linked ? [{ context: linked }] : [], attributes };
}
