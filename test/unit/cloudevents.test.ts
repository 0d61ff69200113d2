import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeCloudEvent, encodeCloudEvent, traceContextOf } from '../../src/transports/cloudevents.js';
import { decodeAcknowledgement, encodeAcknowledgement, toRanges } from '../../src/deliveries/acknowledgement.js';
import { MalformedMessageError } from '../../src/errors.js';
import type { RecordedEvent } from '../../src/events/types.js';

const event: RecordedEvent = {
  type: 'OrderPlaced',
  data: { orderId: 'o-1', qty: 2 },
  metadata: {
    eventId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
    eventNumber: 3_000_000_000,
    streamId: 'order-1',
    streamVersion: 4,
    causationId: 'c-1',
    correlationId: 'k-1',
    createdAt: new Date('2026-11-22T10:00:00.000Z'),
    custom: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tenant: 'acme' },
  },
};

test('CloudEvents: core attributes, Herald extensions and traceparent; decode is the inverse', () => {
  const body = encodeCloudEvent('orders', event);
  const wire = JSON.parse(body.toString());
  assert.equal(wire.specversion, '1.0');
  assert.equal(wire.id, event.metadata.eventId);
  assert.equal(wire.source, '/herald/orders');
  assert.equal(wire.subject, 'order-1');
  assert.equal(wire.heraldnumber, '3000000000', 'beyond 32 bits: a string, as the spec wants');
  assert.equal(wire.traceparent, event.metadata.custom.traceparent);
  assert.equal(wire.heraldmetadata, JSON.stringify({ tenant: 'acme' }));
  for (const key of Object.keys(wire)) assert.match(key, /^[a-z0-9]{1,20}$/, `attribute name ${key}`);
  const back = decodeCloudEvent(body);
  assert.deepEqual(back.data, event.data);
  assert.deepEqual({ ...back.metadata }, { ...event.metadata, source: 'orders', traceparent: event.metadata.custom.traceparent });
});

test('CloudEvents: tracestate travels beside traceparent; traceContextOf reads both without the payload', () => {
  const traced = { ...event, metadata: { ...event.metadata, custom: { ...event.metadata.custom, tracestate: 'vendor=a"b,other=c' } } };
  const body = encodeCloudEvent('orders', traced);
  const wire = JSON.parse(body.toString());
  assert.equal(wire.tracestate, 'vendor=a"b,other=c');
  assert.equal(wire.heraldmetadata, JSON.stringify({ tenant: 'acme' }));
  assert.deepEqual(decodeCloudEvent(body).metadata.custom, traced.metadata.custom);
  assert.deepEqual(traceContextOf(body), { traceparent: event.metadata.custom.traceparent, tracestate: 'vendor=a"b,other=c' });
  // Without a trace context, one named in the payload or in the custom metadata is not taken for it.
  const data = { note: ',"traceparent":"00-x', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
  const untraced = { ...event, data, metadata: { ...event.metadata, custom: { note: ',"traceparent":"' } } };
  assert.equal(traceContextOf(encodeCloudEvent('orders', untraced)), undefined);
  assert.equal(traceContextOf(Buffer.from('not a cloud event')), undefined);
  // An oversized or non-string tracestate is dropped on arrival; the traceparent stays.
  const { tracestate: _dropped, ...rest } = JSON.parse(body.toString());
  for (const tracestate of ['x'.repeat(513), 42]) {
    const custom = decodeCloudEvent(Buffer.from(JSON.stringify({ ...rest, tracestate }))).metadata.custom;
    assert.deepEqual(custom, { tenant: 'acme', traceparent: event.metadata.custom.traceparent });
  }
});

test('CloudEvents: malformed messages are refused with the reason', () => {
  const ok = JSON.parse(encodeCloudEvent('orders', event).toString());
  const cases: [unknown, RegExp][] = [
    ['not json', /not JSON/],
    [[1, 2], /not a JSON object/],
    [{ ...ok, specversion: '0.3' }, /specversion/],
    [{ ...ok, id: '' }, /id must be a non-empty string/],
    [{ ...ok, heraldversion: '0' }, /heraldversion/],
    [{ ...ok, heraldnumber: '1.5' }, /heraldnumber/],
    [{ ...ok, time: 'yesterday' }, /time is not a timestamp/],
    [{ ...ok, traceparent: 'nope' }, /traceparent/],
    [{ ...ok, datacontenttype: 'text/plain' }, /datacontenttype/],
    [{ ...ok, heraldmetadata: '[1]' }, /heraldmetadata/],
    [(({ data, ...rest }) => rest)(ok), /data is missing/],
  ];
  for (const [input, reason] of cases) {
    const body = typeof input === 'string' ? input : JSON.stringify(input);
    assert.throws(() => decodeCloudEvent(Buffer.from(body)), (error: unknown) => error instanceof MalformedMessageError && reason.test(error.message), `${body.slice(0, 60)}`);
  }
});

test('acknowledgements: receipts fold into ranges and survive the wire', () => {
  const at = (s: number) => new Date(Date.UTC(2026, 10, 22, 10, 0, s));
  const ranges = toRanges([5, 1, 2, 3, 9, 10, 3].map((n, i) => ({ eventNumber: n, handledAt: at(i) })));
  assert.deepEqual(
    ranges.map((r) => [r.first, r.last]),
    [
      [1, 3],
      [5, 5],
      [9, 10],
    ],
  );
  const back = decodeAcknowledgement(encodeAcknowledgement({ consumer: 'billing', source: 'orders', ranges }));
  assert.equal(back.consumer, 'billing');
  assert.deepEqual(back.ranges, ranges);
  assert.throws(() => decodeAcknowledgement(Buffer.from(JSON.stringify({ type: 'herald.delivery.acknowledged', data: { consumer: 'b', source: 'o', ranges: [[3, 1, 'x', 'y']] } }))), /not an interval/);
});
