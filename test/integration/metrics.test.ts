/**
 * herald/metrics against a running world: a sending context with a subscription and a relay to
 * the in-memory broker, a receiving context consuming it, both measured, scraped over HTTP from
 * serveMetrics and read sample by sample (test/helpers/prometheus.ts).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { ConfigError, createHerald, MetricsServerError, park, retry, type Herald } from '../../src/index.js';
import { metricsHandler, prometheusMetrics, serveMetrics, type HeraldMetrics, type MeasuredHerald, type MetricsServer } from '../../src/metrics/index.js';
import { encodeCloudEvent } from '../../src/transports/cloudevents.js';
import { createPool, dropContext, uniqueContext, waitFor } from '../helpers/db.js';
import { MemoryBroker, MemoryTransport } from '../helpers/memory-transport.js';
import { parseExposition, type Sample, valueOf } from '../helpers/prometheus.js';

type Noted = { type: 'Noted'; data: { text: string } };
const noted = (text: string): Noted => ({ type: 'Noted', data: { text } });

/** The listeners a Herald holds, read from its private parts: what detaching must bring back to zero. */
function listenerCounts(herald: Herald): { spans: number; events: number } {
  const observers = (herald.telemetry as unknown as { observers: Map<string, number> }).observers;
  const emitter = herald['events'];
  return { spans: [...observers.values()].reduce((a, b) => a + b, 0), events: emitter.eventNames().reduce((n, name) => n + emitter.listenerCount(name), 0) };
}

describe('metrics', () => {
  const pool = createPool(12);
  const sending = uniqueContext('msnd');
  const receiving = uniqueContext('mrcv');
  const broker = new MemoryBroker();
  const registry = new Registry();
  let sender: Herald;
  let receiver: Herald;
  let metrics: HeraldMetrics;
  let server: MetricsServer;
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));

  const scrape = async (): Promise<Sample[]> => {
    const response = await fetch(server.url);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return parseExposition(await response.text());
  };
  /** Scrapes until `check` holds for the samples (a status gauge can be `statusCacheMs` old). */
  const until = (message: string, check: (s: Sample[]) => boolean) => waitFor(async () => {
    const samples = await scrape();
    return check(samples) ? samples : undefined;
  }, { message, timeoutMs: 15_000, intervalMs: 25 });
  const sub = { context: sending, subscription: 'counter' };
  const relay = { context: sending, relay: 'relay:memory' };
  const consumer = { context: receiving, consumer: 'notes' };

  before(async () => {
    sender = createHerald({ pool, context: sending, pollMs: 50 });
    receiver = createHerald({ pool, context: receiving, pollMs: 50 });
    await sender.migrate();
    await receiver.migrate();
    sender.subscribe({
      name: 'counter',
      async handle(event) {
        const { text } = event.data as Noted['data'];
        if (text === 'gate') await gate;
        if (text.includes('poison')) throw new Error(`cannot count ${text}`);
      },
      onError: (_error, _event, failure) => (failure.attempt < 2 ? retry({ delayMs: 10 }) : park('poisoned')),
    });
    sender.relay({ transport: new MemoryTransport(broker) });
    receiver.consume({
      transport: new MemoryTransport(broker),
      name: 'notes',
      source: sending,
      sweepEveryMs: 50,
      handlers: {
        async Noted(event) {
          if ((event.data as Noted['data']).text.includes('poison')) throw new Error('cannot note poison');
        },
      },
      onError: () => park('poisoned'),
    });
    metrics = prometheusMetrics([sender, receiver], { registry, statusCacheMs: 50 });
    server = await serveMetrics({ port: 0, host: '127.0.0.1', registry });
    await sender.start();
    await receiver.start();
  });

  after(async () => {
    open();
    await server?.close();
    metrics?.close();
    await receiver?.stop();
    await sender?.stop();
    await dropContext(pool, sending);
    await dropContext(pool, receiving);
    await pool.end();
  });

  it('a scrape shows the appended events, the lag of a busy subscription, then its progress', async () => {
    const empty = await scrape();
    assert.equal(valueOf(empty, 'herald_log_head', { context: sending }), 0);
    await sender.append('s-1', [noted('gate'), noted('b'), noted('c')]);
    // The handler waits at the gate: nothing of the batch is handled, all three count as lag.
    let samples = await until('head 3 and lag 3', (s) => valueOf(s, 'herald_log_head', { context: sending }) === 3 && valueOf(s, 'herald_subscription_lag', sub) === 3);
    assert.equal(valueOf(samples, 'herald_events_appended_total', { context: sending }), 3);
    assert.equal(valueOf(samples, 'herald_subscription_position', sub), 0);
    assert.equal(valueOf(samples, 'herald_subscription_events_total', sub), undefined, 'no batch finished yet');
    assert.equal(valueOf(samples, 'herald_subscription_state', { ...sub, state: 'running' }), 1);
    assert.equal(valueOf(samples, 'herald_subscription_state', { ...sub, state: 'failed' }), 0);
    open();
    // A scrape reads the counters before the status it waits for: wait for both to agree.
    samples = await until('lag 0, 3 events', (s) => valueOf(s, 'herald_subscription_lag', sub) === 0 && valueOf(s, 'herald_subscription_events_total', sub) === 3);
    assert.equal(valueOf(samples, 'herald_subscription_position', sub), 3);
    assert.ok(valueOf(samples, 'herald_subscription_batch_duration_seconds_count', sub)! >= 1);
    assert.ok(valueOf(samples, 'herald_subscription_batch_duration_seconds_sum', sub)! > 0);
    assert.equal(valueOf(samples, 'herald_subscription_batch_duration_seconds_bucket', { ...sub, le: '+Inf' }), valueOf(samples, 'herald_subscription_batch_duration_seconds_count', sub));
  });

  it('the relay to the broker moves published, and nothing stays in flight', async () => {
    const relayLag = { context: sending, subscription: 'relay:memory' };
    const samples = await until('3 published, checkpointed', (s) => valueOf(s, 'herald_relay_published_total', relay) === 3 && valueOf(s, 'herald_subscription_lag', relayLag) === 0);
    assert.equal(valueOf(samples, 'herald_relay_in_flight', relay), 0);
    assert.equal(valueOf(samples, 'herald_relay_healthy', relay), 1);
    assert.ok(valueOf(samples, 'herald_relay_publish_duration_seconds_count', relay)! >= 1);
  });

  it('the consumer counts what it handled by outcome', async () => {
    await until('3 handled', (s) => valueOf(s, 'herald_consumer_messages_total', { ...consumer, outcome: 'handled' }) === 3);
    const samples = await until('receipts sent', (s) => valueOf(s, 'herald_delivery_pending', { context: sending, consumer: 'notes' }) === 0);
    assert.equal(valueOf(samples, 'herald_consumer_healthy', consumer), 1);
    assert.equal(valueOf(samples, 'herald_consumer_parked', consumer), 0);
    assert.ok(valueOf(samples, 'herald_consumer_batch_duration_seconds_count', consumer)! >= 1);
  });

  it('a failing handler moves the failures by action and the parked counts, on both sides', async () => {
    await sender.append('p-1', noted('poison'));
    let samples = await until('subscription parked it', (s) => valueOf(s, 'herald_subscription_parked', sub) === 1 && valueOf(s, 'herald_subscription_handler_failures_total', { ...sub, action: 'park' }) === 1);
    assert.equal(valueOf(samples, 'herald_subscription_handler_failures_total', { ...sub, action: 'retry' }), 1);
    assert.equal(valueOf(samples, 'herald_subscription_blocked_streams', sub), 1);
    samples = await until('consumer parked it', (s) => valueOf(s, 'herald_consumer_parked', consumer) === 1 && valueOf(s, 'herald_consumer_messages_total', { ...consumer, outcome: 'parked' }) === 1);
    assert.equal(valueOf(samples, 'herald_consumer_handler_failures_total', { ...consumer, action: 'park' }), 1);
    assert.equal(valueOf(samples, 'herald_consumer_messages_total', { ...consumer, outcome: 'handled' }), 3, 'each message counted once, the batch that failed not at all');
  });

  it('a message ahead of its stream is held, and the gauge shows it', async () => {
    const body = encodeCloudEvent(sending, {
      type: 'Noted',
      data: { text: 'early' },
      metadata: { eventId: randomUUID(), eventNumber: 1000, streamId: 'gap-1', streamVersion: 2, causationId: null, correlationId: null, createdAt: new Date(), custom: {} },
    });
    broker.inject(sending, body);
    await until('one held', (s) => valueOf(s, 'herald_consumer_held', consumer) === 1 && valueOf(s, 'herald_consumer_messages_total', { ...consumer, outcome: 'held' }) === 1);
  });

  it('a storm of scrapes reads each status once per statusCacheMs', async () => {
    let reads = 0;
    const counted: MeasuredHerald = {
      context: sender.context,
      telemetry: sender.telemetry,
      on: (event, listener) => sender.on(event, listener),
      off: (event, listener) => sender.off(event, listener),
      status: () => {
        reads++;
        return sender.status();
      },
    };
    const own = new Registry();
    const cached = prometheusMetrics(counted, { registry: own, statusCacheMs: 60_000 });
    try {
      const handle = metricsHandler(cached);
      const texts = await Promise.all(Array.from({ length: 25 }, () => respond(handle)));
      for (let i = 0; i < 5; i++) texts.push(await respond(handle));
      assert.equal(reads, 1);
      for (const text of texts) assert.equal(valueOf(parseExposition(text), 'herald_log_head', { context: sending }), 4);
    } finally {
      cached.close();
    }
  });

  it('refuses what it cannot serve: a second registration, a bad prefix, a busy port; 404 and 405', async () => {
    assert.throws(() => prometheusMetrics(sender, { registry }), (e: unknown) => e instanceof ConfigError && /already registered/.test(e.message));
    assert.throws(() => prometheusMetrics(sender, { registry: new Registry(), prefix: 'no-dashes' }), ConfigError);
    assert.throws(() => prometheusMetrics([], { registry: new Registry() }), ConfigError);
    await assert.rejects(serveMetrics({ port: server.port, host: '127.0.0.1', registry }), MetricsServerError);
    await assert.rejects(serveMetrics({ port: -1 }), ConfigError);
    assert.equal((await fetch(server.url.replace('/metrics', '/other'))).status, 404);
    assert.equal((await fetch(server.url, { method: 'POST' })).status, 405);
  });

  it('detaches from a Herald that stops and leaves the registry once all stopped; close() detaches too', async () => {
    const before = listenerCounts(sender);
    for (let i = 0; i < 30; i++) prometheusMetrics(sender, { registry: new Registry() }).close();
    assert.deepEqual(listenerCounts(sender), before, 'close() leaves no listener behind');

    await receiver.stop();
    assert.deepEqual(metrics.heralds, [sender]);
    assert.deepEqual(listenerCounts(receiver), { spans: 0, events: 0 });
    const samples = await scrape();
    assert.equal(valueOf(samples, 'herald_log_head', { context: receiving }), undefined, 'a stopped Herald is no longer read');
    assert.equal(valueOf(samples, 'herald_log_head', { context: sending }), 4);

    await sender.stop();
    assert.deepEqual(metrics.heralds, []);
    assert.deepEqual(listenerCounts(sender), { spans: 0, events: 0 });
    assert.equal(registry.getSingleMetric('herald_log_head'), undefined);
    assert.equal(valueOf(await scrape(), 'herald_events_appended_total', { context: sending }), undefined);
    // The registry is free again.
    prometheusMetrics(sender, { registry }).close();
  });
});

/** Runs a `(req, res)` handler without a server: what it would have sent. */
function respond(handle: ReturnType<typeof metricsHandler>): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    const res = {
      writeHead: (status: number) => {
        if (status !== 200) reject(new Error(`status ${status}`));
        return res;
      },
      end: (text?: string) => resolve(body + (text ?? '')),
    };
    handle({ method: 'GET' } as never, res as never);
  });
}
