/**
 * The relay's mechanics with an in-memory transport (the broker-facing behaviour is tested against
 * real brokers in across-services.test.ts): what PostgreSQL encodes equals encodeCloudEvent, pages
 * stay within the window, a failing broker makes the relay unhealthy until it resumes, in order;
 * a message the broker refuses for good is parked (with a real NATS and its max_payload too).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHerald, type NewEvent } from '../../src/index.js';
import { TransportError } from '../../src/errors.js';
import { decodeCloudEvent, encodeCloudEvent } from '../../src/transports/cloudevents.js';
import type { Channel, OutgoingMessage, Transport } from '../../src/transports/transport.js';
import { createPool, dropContext, uniqueContext, waitFor } from '../helpers/db.js';
import { requireBroker } from '../helpers/brokers.js';
import { nats } from '../../src/transports/nats.js';

/** A broker in memory: records what was published; `failing` makes publish reject. */
class MemoryTransport implements Transport {
  readonly kind = 'memory';
  readonly published: OutgoingMessage[] = [];
  readonly batchSizes: number[] = [];
  inFlight = 0;
  maxInFlight = 0;
  failing = false;
  /** Messages the broker refuses for good (a whole batch holding one fails). */
  refuse: (message: OutgoingMessage) => boolean = () => false;
  async publish(channel: Channel, messages: readonly OutgoingMessage[]): Promise<void> {
    if (channel !== 'events') return;
    if (this.failing) throw new TransportError(this.kind, 'broker unreachable');
    if (messages.some(this.refuse)) throw new TransportError(this.kind, 'message too big for this broker', { refused: true });
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

/** A context of its own for one test, with its Herald; stopped and dropped after the test. */
async function relayWorld(t: TestContext, prefix: string) {
  const pool = createPool(6);
  const context = uniqueContext(prefix);
  const herald = createHerald({ pool, context, pollMs: 50 });
  await herald.migrate();
  t.after(async () => {
    await herald.stop();
    await dropContext(pool, context);
    await pool.end();
  });
  return { pool, context, herald };
}

test('relay: the CloudEvents PostgreSQL builds decode exactly like encodeCloudEvent; window and order hold', async (t) => {
  const { context, herald } = await relayWorld(t, 'rly');
  const transport = new MemoryTransport();
  herald.relay({ transport, window: 40, pages: 4, collectAcknowledgements: false });
  let spanned = 0;
  herald.telemetry.on('relay:publish:stop', (e) => (spanned += e.metadata.messages));
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
  assert.equal(spanned, 100, 'relay:publish spans cover every message published');
});

test('relay: while the broker fails the relay is unhealthy and publishes nothing twice out of order; then it resumes', async (t) => {
  const { herald } = await relayWorld(t, 'rly');
  const transport = new MemoryTransport();
  const relay = herald.relay({ transport, window: 20, collectAcknowledgements: false });
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

test('relay: a message the broker refuses is parked; its stream waits behind it, others flow; a retry publishes it and the rest in order', async (t) => {
  const { herald } = await relayWorld(t, 'rly');
  const transport = new MemoryTransport();
  transport.refuse = (m) => m.type === 'Huge';
  const relay = herald.relay({ transport, window: 8, collectAcknowledgements: false });
  const refused: number[] = [];
  herald.on('messageRefused', ({ message }) => refused.push(message.number));
  await herald.start();
  await herald.append('a', [{ type: 'E', data: { i: 1 } }, { type: 'Huge', data: { i: 2 } }, { type: 'E', data: { i: 3 } }]);
  for (let i = 1; i <= 3; i++) await herald.append('b', { type: 'E', data: { i } });
  const published = () => transport.published.map((m) => `${m.key}@${JSON.parse(m.body.toString()).heraldversion}`);
  await waitFor(() => ['b@1', 'b@2', 'b@3'].every((k) => published().includes(k)), { message: 'stream b flows' });
  const [parked] = await waitFor(async () => {
    const list = await herald.parked.list({ subscription: relay.name });
    return list.length === 1 ? list : undefined;
  }, { message: 'the refused message parked' });
  assert.equal(parked!.streamId, 'a');
  assert.equal(parked!.streamVersion, 2);
  assert.match(parked!.error.message ?? '', /message too big for this broker/);
  assert.match(parked!.reason ?? '', /refused by the broker/);
  assert.deepEqual(refused, [parked!.eventNumber]);
  await waitFor(async () => (await herald.status()).subscriptions.find((s) => s.name === relay.name)?.lag === 0, { message: 'the checkpoint moves past it' });
  assert.ok(!published().includes('a@3'), 'a@3 waits behind the refused a@2');
  assert.equal(relay.health().healthy, true, 'a refusal is not an outage');

  transport.refuse = () => false; // the broker's limit was raised
  const outcome = await herald.parked.retry(relay.name, parked!.eventNumber, { wait: true });
  assert.equal(outcome.status, 'retried');
  await waitFor(() => published().includes('a@3'), { message: 'a@3 after the retry' });
  assert.deepEqual(published().filter((k) => k.startsWith('a@')), ['a@1', 'a@2', 'a@3'], 'stream a in order');
});

test("relay: with parking 'message' a refused message is parked and its stream goes on; a skip resolves it", async (t) => {
  const { herald } = await relayWorld(t, 'rly');
  const transport = new MemoryTransport();
  transport.refuse = (m) => m.type === 'Huge';
  const relay = herald.relay({ transport, window: 8, parking: 'message', collectAcknowledgements: false });
  await herald.start();
  await herald.append('a', [{ type: 'Huge', data: {} }, { type: 'E', data: {} }]);
  await waitFor(() => transport.published.some((m) => m.type === 'E'), { message: 'a@2 published past the refused a@1' });
  const [parked] = await herald.parked.list({ subscription: relay.name });
  assert.equal(parked?.streamVersion, 1);
  const outcome = await herald.parked.skip(relay.name, parked!.eventNumber, 'too big, sent by hand', { wait: true });
  assert.equal(outcome.status, 'skipped');
  assert.equal((await herald.parked.list({ subscription: relay.name, status: 'skipped' })).length, 1);
});

test('relay on NATS: an event over max_payload is parked with the broker error while later events flow', async (t) => {
  if (!(await requireBroker('nats', t))) return;
  const { herald } = await relayWorld(t, 'rlyn');
  const transport = nats({});
  const relay = herald.relay({ transport, window: 40, collectAcknowledgements: false });
  t.after(() => transport.close());
  await herald.start();
  await herald.append('big', { type: 'Small', data: { n: 1 } });
  await herald.append('big', { type: 'Huge', data: { blob: 'x'.repeat(1_100_000) } }); // NATS's default max_payload is 1 MB
  await herald.append('big', { type: 'Small', data: { n: 3 } });
  for (let i = 0; i < 20; i++) await herald.append(`other-${i % 4}`, { type: 'Small', data: { i } });
  const head = 23;
  await waitFor(async () => (await herald.status()).subscriptions.find((s) => s.name === relay.name)?.position === head, { timeoutMs: 20_000, message: 'the relay moved to the head' });
  const parked = await herald.parked.list({ subscription: relay.name, status: ['parked', 'waiting'] });
  assert.deepEqual(parked.map((p) => [p.streamId, p.streamVersion, p.status]), [['big', 2, 'parked'], ['big', 3, 'waiting']]);
  assert.match(parked[0]!.error.message ?? '', /max_payload/);
  assert.equal(parked[0]!.error.type, 'TransportError');
  assert.equal(relay.health().healthy, true);
});
