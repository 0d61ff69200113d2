import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, InvalidIdentifierError } from '../errors.js';
import type { Transport } from '../transports/transport.js';
import { cloudEventPrefix, decodeCloudEvent } from '../transports/cloudevents.js';
import { outboxSettings } from './options.js';
import { derivedEventId, payloadText, toMessage } from './rows.js';

const transport = { kind: 'memory', publish: async () => {} } as unknown as Transport;

describe('outbox rows', () => {
  it('derive a stable UUIDv5 per source, table and id', () => {
    const id = derivedEventId('orders', 'public.orders_outbox', '42');
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(derivedEventId('orders', 'public.orders_outbox', '42'), id);
    assert.notEqual(derivedEventId('orders', 'public.orders_outbox', '43'), id);
    assert.notEqual(derivedEventId('billing', 'public.orders_outbox', '42'), id);
  });

  it('send JSON columns as they are, text holding JSON as it is, other text as a JSON string, NULL as null', () => {
    assert.equal(payloadText('{"a": 1}', false), '{"a": 1}');
    assert.equal(payloadText('[1,2]', true), '[1,2]');
    assert.equal(payloadText('not json "quoted"', true), '"not json \\"quoted\\""');
    assert.equal(payloadText(null, false), 'null');
  });

  it('become CloudEvents that decode to the row: stream, version, row id, time, payload, metadata', () => {
    const settings = outboxSettings({ table: 'orders_outbox', transport }, 'orders');
    const row = {
      n: '7',
      stream: '2b0c1a5e-0000-4000-8000-000000000001',
      type: 'OrderPlaced',
      data: '{"total": 42}',
      ms: Date.UTC(2026, 10, 22, 10, 0, 0, 123),
      event_id: null,
      meta: '{"tenant": "acme", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}',
    };
    const message = toMessage(row, 3, cloudEventPrefix('orders'), settings, false);
    assert.deepEqual([message.number, message.version, message.key, message.source], [7, 3, row.stream, 'orders']);
    const event = decodeCloudEvent(message.body);
    assert.equal(event.metadata.eventId, derivedEventId('orders', 'public.orders_outbox', '7'));
    assert.deepEqual([event.type, event.data, event.metadata.streamId, event.metadata.streamVersion, event.metadata.eventNumber], ['OrderPlaced', { total: 42 }, row.stream, 3, 7]);
    assert.equal(event.metadata.createdAt.toISOString(), '2026-11-22T10:00:00.123Z');
    assert.equal(event.metadata.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    assert.equal(event.metadata.custom.tenant, 'acme');
    assert.equal(decodeCloudEvent(toMessage({ ...row, event_id: 'c0ffee00-0000-4000-8000-000000000000' }, 1, cloudEventPrefix('orders'), settings, false).body).metadata.eventId, 'c0ffee00-0000-4000-8000-000000000000');
  });
});

describe('outbox options', () => {
  it("default to the seed's columns, the public schema and a name from the table", () => {
    const settings = outboxSettings({ table: 'orders_outbox', transport, columns: { eventId: 'event_id' } }, 'orders');
    assert.deepEqual(settings.columns, {
      id: 'id',
      aggregateId: 'aggregate_id',
      type: 'event_type',
      payload: 'payload',
      occurredAt: 'occurred_at',
      dispatchedAt: 'dispatched_at',
      eventId: 'event_id',
    });
    assert.equal(settings.qualified, '"public"."orders_outbox"');
    assert.equal(settings.relay.name, 'outbox:public.orders_outbox');
    assert.equal(settings.source, 'orders');
    assert.equal(settings.pollMs, 100);
  });

  it('refuse unknown fields, bad names and a bad poll interval', () => {
    assert.throws(() => outboxSettings({ table: 'orders_outbox', transport, columns: { aggregate: 'x' } as never }, 'orders'), (e: unknown) => e instanceof ConfigError && /unknown column mapping "aggregate"/.test(e.message));
    assert.throws(() => outboxSettings({ table: 'orders; DROP TABLE x', transport }, 'orders'), InvalidIdentifierError);
    assert.throws(() => outboxSettings({ table: 'orders_outbox', transport, columns: { payload: 'a"b' } }, 'orders'), InvalidIdentifierError);
    assert.throws(() => outboxSettings({ table: 'orders_outbox', transport, pollMs: 0 }, 'orders'), ConfigError);
    assert.throws(() => outboxSettings({ table: 'orders_outbox' } as never, 'orders'), ConfigError);
  });

  it('quote mixed-case names as they are', () => {
    const settings = outboxSettings({ table: 'OrdersOutbox', schema: 'Shop', transport, columns: { aggregateId: 'aggregateId' } }, 'orders');
    assert.equal(settings.qualified, '"Shop"."OrdersOutbox"');
    assert.equal(settings.columns.aggregateId, 'aggregateId');
  });
});
