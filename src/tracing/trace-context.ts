/**
 * W3C Trace Context as Herald stores it: `traceparent` and `tracestate` in an event's custom
 * metadata (the keys the CloudEvents Distributed Tracing extension uses on the wire). Written and
 * read here directly, not through the global propagator: the stored format is W3C whatever
 * propagator an application configured for its HTTP traffic. Pure.
 */
import { createTraceState, isSpanContextValid, type SpanContext } from '@opentelemetry/api';
import type { CustomMetadata } from '../events/types.js';

/** version-traceId-spanId-flags; a later version may append fields after another `-`. */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The metadata that carries `span` (nothing for an invalid span context, the no-op one's). */
export function traceMetadata(span: SpanContext): CustomMetadata | undefined {
  if (!isSpanContextValid(span)) return undefined;
  const traceparent = `00-${span.traceId}-${span.spanId}-${(span.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
  const tracestate = span.traceState?.serialize();
  return tracestate ? { traceparent, tracestate } : { traceparent };
}

/** The remote span context an event's metadata carries, if it carries a valid one. */
export function storedSpanContext(custom: Readonly<Record<string, unknown>> | undefined): SpanContext | undefined {
  const match = typeof custom?.traceparent === 'string' ? TRACEPARENT.exec(custom.traceparent) : null;
  if (!match || match[1] === 'ff' || (match[1] === '00' && match[5] !== undefined)) return undefined;
  const span: SpanContext = { traceId: match[2]!, spanId: match[3]!, traceFlags: parseInt(match[4]!, 16), isRemote: true };
  if (typeof custom?.tracestate === 'string' && custom.tracestate.length > 0) span.traceState = createTraceState(custom.tracestate);
  return isSpanContextValid(span) ? span : undefined;
}
