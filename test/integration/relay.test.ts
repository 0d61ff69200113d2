/**
 * The relay's mechanics with an in-memory transport (the broker-facing behaviour is tested against
 * real brokers in across-services.test.ts): what PostgreSQL encodes equals encodeCloudEvent, pages
 * stay within the window, a failing broker makes the relay unhealthy until it resumes, in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHerald, type NewEvent } from '../../src/index.js';
import { TransportError } from '../../src/errors.js';
import { decodeCloudEvent, encodeCloudEvent } from '../../src/transports/cloudevents.js';
import type { Channel, OutgoingMessage, Transport } from '../../src/transports/transport.js';
import { createPool, dropContext, uniqueContext, waitFor } from '../helpers/db.js';

/** A broker in memory: records what was published; `failing` makes publish reject. */
class MemoryTransport implements Transport {
  readonly kind = 'memory';
  readonly published: OutgoingMessage[] = [];
  readonly batchSizes: number[] = [];
  inFlight = 0;
  maxInFlight = 0;
  failing = false;
  async publish(channel: Channel, messages: readonly OutgoingMessage[]): Promise<void> {
    if (channel !== 'events') return;
    if (this.failing) throw new TransportError(this.kind, 'broker unreachable');
    this.inFlight += messages.length;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((resolve) => setImmediate(resolve));
    this.inFlight -= messages.length;
    this.published.push(...messages);
    this.batchSizes.push(messages.length);
  }
  async consume(): Promise<never> {
    throw new TransportError(this.kind, 'no consumers here');
  }
  health() {
    return { connected: !this.failing, lastError: null };
  }
  async close(): Promise<void> {}
}

test('relay: the CloudEvents PostgreSQL builds decode exactly like encodeCloudEvent; window and order hold', async (t) => {
  const pool = createPool(6);
  const context = uniqueContext('rly');
  const herald = createHerald({ pool, context, pollMs: 50 });
  await herald.migrate();
  const transport = new MemoryTransport();
  herald.relay({ transport, window: 40, pages: 4, collectAcknowledgements: false });
  t.after(async () => {
    await herald.stop();
    await dropContext(pool, context);
    await pool.end();
  });
  const samples: NewEvent[] = [
    { type: 'Plain', data: { a: 1 } },
    { type: 'Nested', data: { list: [1, 'two', null, { deep: true }], text: 'ünïcødé ✓ "quoted" \\ back' }, causationId: 'c-1', correlationId: 'k-1' },
    { type: 'Traced', data: {}, metadata: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tenant: 'acme', n: 3 } },
    { type: 'Custom', data: { nul: null }, metadata: { only: ['custom'] } },
  ];
  for (let i = 0; i < 100; i++) await herald.append(`s-${i % 7}`, samples[i % samples.length]!);
  await herald.start();
  await waitFor(() => transport.published.length >= 100, { message: '100 published' });
  const events = await herald.readLog(0, 1000);
  assert.equal(transport.published.length, 100, 'each event once');
  for (const [i, event] of events.entries()) {
    const message = transport.published[i]!;
    assert.equal(message.id, event.metadata.eventId, 'log order');
    assert.equal(message.key, event.metadata.streamId);
    assert.deepEqual(decodeCloudEvent(message.body), decodeCloudEvent(encodeCloudEvent(context, event)), `event ${i + 1}`);
  }
  assert.ok(transport.maxInFlight <= 40, `at most one window in flight (${transport.maxInFlight})`);
  assert.ok(Math.max(...transport.batchSizes) <= 10, 'pages of window / pages');
});

test('relay: while the broker fails the relay is unhealthy and publishes nothing twice out of order; then it resumes', async (t) => {
  const pool = createPool(6);
  const context = uniqueContext('rly');
  const herald = createHerald({ pool, context, pollMs: 50 });
  await herald.migrate();
  const transport = new MemoryTransport();
  const relay = herald.relay({ transport, window: 20, collectAcknowledgements: false });
  t.after(async () => {
    await herald.stop();
    await dropContext(pool, context);
    await pool.end();
  });
  await herald.start();
  for (let i = 0; i < 30; i++) await herald.append(`s-${i % 3}`, { type: 'E', data: { i } });
  await waitFor(() => transport.published.length === 30, { message: 'first 30' });
  transport.failing = true;
  for (let i = 30; i < 60; i++) await herald.append(`s-${i % 3}`, { type: 'E', data: { i } });
  await waitFor(() => !relay.health().healthy, { message: 'unhealthy' });
  const status = await herald.status();
  assert.equal(status.relays[0]?.healthy, false);
  assert.match(status.relays[0]?.lastError ?? '', /broker unreachable/);
  assert.equal(status.subscriptions.find((s) => s.name === relay.name)?.position, 30, 'the checkpoint waits for confirms');
  transport.failing = false;
  await waitFor(() => transport.published.length === 60 && relay.health().healthy, { timeoutMs: 15_000, message: 'resumed' });
  const numbers = transport.published.map((m) => Number(JSON.parse(m.body.toString()).heraldnumber));
  assert.deepEqual(numbers, Array.from({ length: 60 }, (_, i) => i + 1), 'every event once, in log order');
});
