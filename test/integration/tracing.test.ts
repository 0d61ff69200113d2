/**
 * herald/tracing with the OpenTelemetry SDK's in-memory exporter: the trace context of an append
 * travels in the event's metadata to the subscription's handler (child span), over the relay as
 * the CloudEvent's traceparent (publish span linked to it) to the consumer (consume span linked
 * to it). Before the SDK is registered, the same world runs with no-op spans and stores nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { context, SpanKind, SpanStatusCode, trace, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createHerald, skip, type Herald } from '../../src/index.js';
import { instrument, type Tracing } from '../../src/tracing/index.js';
import { createPool, dropContext, uniqueContext, waitFor } from '../helpers/db.js';
import { MemoryBroker, MemoryTransport } from '../helpers/memory-transport.js';

const noted = (text: string) => ({ type: 'Noted', data: { text } });
const textOf = (data: unknown) => (data as { text: string }).text;

describe('tracing', () => {
  const pool = createPool(12);
  const sending = uniqueContext('tsnd');
  const receiving = uniqueContext('trcv');
  const broker = new MemoryBroker();
  const exporter = new InMemorySpanExporter();
  const tracer = trace.getTracer('test');
  /** What each handler call saw as its active span, by event text. */
  const seen = new Map<string, SpanContext | undefined>();
  let sender: Herald;
  let receiver: Herald;
  let tracings: Tracing[] = [];

  /** The exported span named `name` whose attributes include `attributes`, once there. */
  const span = (name: string, attributes: Record<string, unknown> = {}) =>
    waitFor(() => exporter.getFinishedSpans().find((s) => s.name === name && Object.entries(attributes).every(([k, v]) => s.attributes[k] === v)), { message: `span ${name} ${JSON.stringify(attributes)}` });
  /** The CloudEvent the relay published for stream `streamId`. */
  const published = (streamId: string) =>
    waitFor(() => broker.group('events', sending, 'inspector').waiting.map((m) => JSON.parse(m.body.toString()) as Record<string, unknown>).find((ce) => ce.subject === streamId), { message: `message of ${streamId}` });

  before(async () => {
    sender = createHerald({ pool, context: sending, pollMs: 50 });
    receiver = createHerald({ pool, context: receiving, pollMs: 50 });
    await sender.migrate();
    await receiver.migrate();
    sender.subscribe({
      name: 'traced.sub',
      async handle(event) {
        seen.set(`sub ${textOf(event.data)}`, trace.getActiveSpan()?.spanContext());
        tracer.startSpan('inside handler').end();
        if (textOf(event.data).includes('poison')) throw new Error('poisoned');
      },
      onError: () => skip('poisoned'),
    });
    sender.relay({ transport: new MemoryTransport(broker) });
    receiver.consume({
      transport: new MemoryTransport(broker),
      name: 'notes',
      source: sending,
      handlers: {
        async Noted(event) {
          seen.set(`consumer ${textOf(event.data)}`, trace.getActiveSpan()?.spanContext());
          if (textOf(event.data).includes('poison')) throw new Error('poisoned');
        },
      },
      onError: () => skip('poisoned'),
    });
    // Instrumented before any SDK exists, as an application may do: the API's proxies catch up.
    tracings = [instrument(sender), instrument(receiver)];
    await sender.start();
    await receiver.start();
  });

  after(async () => {
    for (const tracing of tracings) tracing.close();
    await receiver?.stop();
    await sender?.stop();
    trace.disable();
    context.disable();
    await dropContext(pool, sending);
    await dropContext(pool, receiving);
    await pool.end();
  });

  it('without an SDK everything runs and no trace context is stored or sent', async () => {
    await sender.append('plain-1', noted('plain'));
    await waitFor(() => seen.has('consumer plain'), { message: 'the consumer handled it' });
    assert.equal(seen.get('sub plain'), undefined, 'no active span in the handler');
    const [stored] = await sender.readStream('plain-1');
    assert.deepEqual(stored!.metadata.custom, {});
    assert.equal((await published('plain-1')).traceparent, undefined);
  });

  it('an append in an active span stores its trace context; the handler runs in a child span of it', async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    const request = await tracer.startActiveSpan('request', async (span) => {
      await sender.append('order-1', noted('traced'), { metadata: { tenant: 'acme' } });
      span.end();
      return span.spanContext();
    });
    const append = await span(`append ${sending}`, { 'herald.stream_id': 'order-1' });
    assert.equal(append.kind, SpanKind.PRODUCER);
    assert.equal(append.spanContext().traceId, request.traceId);
    assert.equal(append.parentSpanContext?.spanId, request.spanId);
    const [stored] = await sender.readStream('order-1');
    assert.deepEqual(stored!.metadata.custom, { tenant: 'acme', traceparent: `00-${request.traceId}-${append.spanContext().spanId}-01` });

    const handle = await span('handle traced.sub', { 'herald.stream_id': 'order-1' });
    assert.equal(handle.kind, SpanKind.CONSUMER);
    assert.equal(handle.spanContext().traceId, request.traceId, 'the same trace as the request');
    assert.equal(handle.parentSpanContext?.spanId, append.spanContext().spanId);
    assert.equal(handle.attributes['messaging.message.id'], stored!.metadata.eventId);
    assert.equal(seen.get('sub traced')?.spanId, handle.spanContext().spanId, 'the handler runs inside its span');
    const inside = await waitFor(() => exporter.getFinishedSpans().find((s) => s.name === 'inside handler' && s.parentSpanContext?.spanId === handle.spanContext().spanId), { message: 'a span the handler made' });
    assert.equal(inside.spanContext().traceId, request.traceId);
  });

  it('the relay sends the stored context as the CloudEvent traceparent; its publish span links to it', async () => {
    const [stored] = await sender.readStream('order-1');
    const traceparent = stored!.metadata.custom.traceparent as string;
    const message = await published('order-1');
    assert.equal(message.traceparent, traceparent);
    assert.equal(message.heraldmetadata, JSON.stringify({ tenant: 'acme' }));
    const [, traceId, spanId] = traceparent.split('-');
    const publish = await waitFor(() => exporter.getFinishedSpans().find((s) => s.name === `publish ${sending}` && s.links.some((l) => l.context.spanId === spanId)), { message: 'publish span linked to the append' });
    assert.equal(publish.kind, SpanKind.CLIENT);
    assert.equal(publish.links.find((l) => l.context.spanId === spanId)!.context.traceId, traceId);
    assert.equal(publish.parentSpanContext, undefined, 'a trace of its own');
  });

  it('the consumer handles the message in a consume span linked to its traceparent', async () => {
    const [stored] = await sender.readStream('order-1');
    const [, traceId, spanId] = (stored!.metadata.custom.traceparent as string).split('-');
    const consume = await span('consume notes', { 'herald.stream_id': 'order-1' });
    assert.equal(consume.kind, SpanKind.CONSUMER);
    assert.deepEqual(consume.links.map((l) => [l.context.traceId, l.context.spanId]), [[traceId, spanId]]);
    assert.notEqual(consume.spanContext().traceId, traceId, 'linked, not a child: a trace of its own');
    assert.equal(consume.parentSpanContext, undefined);
    assert.equal(consume.attributes['messaging.destination.name'], sending);
    assert.equal(consume.attributes['herald.context'], receiving);
    assert.equal(seen.get('consumer traced')?.spanId, consume.spanContext().spanId, 'the handler runs inside its span');
  });

  it('a failing handler leaves an error status and the exception on its span', async () => {
    await tracer.startActiveSpan('request', async (s) => {
      await sender.append('poison-1', noted('poison'));
      s.end();
    });
    for (const name of ['handle traced.sub', 'consume notes']) {
      const failed = await waitFor(() => exporter.getFinishedSpans().find((s) => s.name === name && s.attributes['herald.stream_id'] === 'poison-1' && s.status.code === SpanStatusCode.ERROR), { message: `${name} failed` });
      assert.equal(failed.status.message, 'poisoned');
      assert.ok(failed.events.some((e) => e.name === 'exception'));
    }
  });

  it("the caller's own traceparent wins; after close() nothing is traced or stored", async () => {
    const own = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await tracer.startActiveSpan('request', async (s) => {
      await sender.append('own-1', noted('own'), { metadata: { traceparent: own } });
      s.end();
    });
    assert.equal((await sender.readStream('own-1'))[0]!.metadata.custom.traceparent, own);
    // Everything own-1 caused has finished before the instrumentation goes.
    await span('handle traced.sub', { 'herald.stream_id': 'own-1' });
    await span('consume notes', { 'herald.stream_id': 'own-1' });
    await waitFor(() => exporter.getFinishedSpans().some((s) => s.name === `publish ${sending}` && s.links.some((l) => l.context.spanId === 'b7ad6b7169203331')), { message: 'own-1 published' });
    for (const tracing of tracings) tracing.close();
    const before: ReadableSpan[] = [...exporter.getFinishedSpans()];
    await tracer.startActiveSpan('request', async (s) => {
      await sender.append('closed-1', noted('closed'));
      s.end();
    });
    await waitFor(() => seen.has('consumer closed'), { message: 'handled after close' });
    assert.deepEqual((await sender.readStream('closed-1'))[0]!.metadata.custom, {});
    assert.deepEqual(exporter.getFinishedSpans().slice(before.length).map((s) => s.name).filter((n) => n !== 'inside handler'), ['request']);
  });
});
