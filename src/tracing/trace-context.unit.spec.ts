import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTraceState, INVALID_SPAN_CONTEXT, TraceFlags } from '@opentelemetry/api';
import { storedSpanContext, traceMetadata } from './trace-context.js';

const traceId = '0af7651916cd43dd8448eb211c80319c';
const spanId = 'b7ad6b7169203331';

describe('stored trace context', () => {
  it('writes W3C traceparent and tracestate and reads them back as a remote span context', () => {
    const metadata = traceMetadata({ traceId, spanId, traceFlags: TraceFlags.SAMPLED, traceState: createTraceState('a=1,b=2') });
    assert.deepEqual(metadata, { traceparent: `00-${traceId}-${spanId}-01`, tracestate: 'a=1,b=2' });
    const back = storedSpanContext(metadata)!;
    assert.deepEqual({ ...back, traceState: back.traceState?.serialize() }, { traceId, spanId, traceFlags: 1, isRemote: true, traceState: 'a=1,b=2' });
    assert.deepEqual(traceMetadata({ traceId, spanId, traceFlags: TraceFlags.NONE }), { traceparent: `00-${traceId}-${spanId}-00` });
  });

  it('carries nothing for the no-op span, and reads nothing from what is not a valid traceparent', () => {
    assert.equal(traceMetadata(INVALID_SPAN_CONTEXT), undefined);
    for (const traceparent of [undefined, 42, 'nope', `ff-${traceId}-${spanId}-01`, `00-${traceId}-${spanId}-01-extra`, `00-${'0'.repeat(32)}-${spanId}-01`, `00-${traceId.toUpperCase()}-${spanId}-01`]) {
      assert.equal(storedSpanContext({ traceparent } as Record<string, unknown>), undefined, String(traceparent));
    }
    assert.equal(storedSpanContext(undefined), undefined);
    assert.equal(storedSpanContext({ traceparent: `01-${traceId}-${spanId}-01-future` })?.traceId, traceId, 'a later version may add fields');
  });
});
