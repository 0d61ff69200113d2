/**
 * Relays and consumers across services, on real brokers: for each of RabbitMQ, NATS JetStream and
 * Redis Streams. Under CI=true an unreachable broker fails these tests.
 */
import { randomUUID } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { z } from 'zod';
import { createHerald, defineEvent, type Herald } from '../../src/index.js';
import { encodeCloudEvent } from '../../src/transports/cloudevents.js';
import { createPool, dropContext, uniqueContext, waitFor } from '../helpers/db.js';
import { startFixture, type FixtureProcess } from '../helpers/processes.js';
import { requireBroker, startBroker, stopBroker, startPrivateRedis } from '../helpers/brokers.js';
import { type BrokerKind, createTransport, recordEffect, type TransportConfig } from '../helpers/transports.js';

const ItemAdded = defineEvent('ItemAdded', z.object({ n: z.number().int() }));
const BROKERS: BrokerKind[] = ['rabbitmq', 'nats', 'redis'];

interface World {
  pool: pg.Pool;
  sender: Herald;
  senderContext: string;
  receiverContext: string;
  consumerName: string;
  /** Registers a clean-up that runs before the world's own (pool, schemas). */
  defer(cleanup: () => Promise<unknown>): void;
}

async function createWorld(t: TestContext, flagAfterMs = 300_000): Promise<World> {
  const pool = createPool(20);
  const senderContext = uniqueContext('snd');
  const receiverContext = uniqueContext('rcv');
  const sender = createHerald({ pool, context: senderContext, sequencer: false, deliveries: { flagAfterMs } });
  const receiver = createHerald({ pool, context: receiverContext });
  await sender.migrate();
  await receiver.migrate();
  await pool.query(
    `CREATE TABLE "${receiverContext}".effects (seq bigserial PRIMARY KEY, event_id uuid NOT NULL, stream_id text NOT NULL, stream_version bigint NOT NULL, event_number bigint NOT NULL)`,
  );
  const cleanups: (() => Promise<unknown>)[] = [
    async () => {
      await dropContext(pool, senderContext);
      await dropContext(pool, receiverContext);
      await pool.end();
    },
  ];
  // One hook running clean-ups last-in first-out: what a test starts stops before the pool ends.
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  return { pool, sender, senderContext, receiverContext, consumerName: `billing-${randomUUID().slice(0, 8)}`, defer: (fn) => void cleanups.push(fn) };
}

/** Appends `count` events from `writers` concurrent writers, each event to a random one of `streams` streams. */
async function write(world: World, count: number, writers = 8, streams = 100, offset = 0): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (next < count) {
        const n = offset + next++;
        await world.sender.append(`s-${Math.floor(Math.random() * streams)}`, ItemAdded.create({ n }));
      }
    }),
  );
}

async function effectCount(world: World): Promise<{ total: number; distinct: number }> {
  const { rows } = await world.pool.query<{ total: string; distinct: string }>(
    `SELECT count(*) AS total, count(DISTINCT event_id) AS distinct FROM "${world.receiverContext}".effects`,
  );
  return { total: Number(rows[0]!.total), distinct: Number(rows[0]!.distinct) };
}

/** Every event of the sender's log has exactly one effect, and each stream's effects are in version order. */
async function assertExactlyOnceInOrder(world: World, expected: number): Promise<void> {
  const { total, distinct } = await effectCount(world);
  assert.equal(distinct, expected, 'every event handled');
  assert.equal(total, expected, 'no event handled twice');
  const { rows: missing } = await world.pool.query(
    `SELECT e.event_id FROM "${world.senderContext}".events e
      WHERE NOT EXISTS (SELECT 1 FROM "${world.receiverContext}".effects f WHERE f.event_id = e.event_id) LIMIT 5`,
  );
  assert.deepEqual(missing, [], 'effects are the sender’s events');
  const { rows } = await world.pool.query<{ stream_id: string; versions: string[] }>(
    `SELECT stream_id, array_agg(stream_version ORDER BY seq) AS versions FROM "${world.receiverContext}".effects GROUP BY stream_id`,
  );
  for (const row of rows) {
    const versions = row.versions.map(Number);
    assert.deepEqual(versions, versions.map((_, i) => i + 1), `stream ${row.stream_id} handled in order`);
  }
}

function startRelay(world: World, transport: TransportConfig, window: number): FixtureProcess {
  return startFixture('relay', { context: world.senderContext, transport, window, leaseTtlMs: 1000 });
}

function startConsumer(world: World, transport: TransportConfig, extra: object = {}): FixtureProcess {
  return startFixture('consumer', {
    context: world.receiverContext,
    source: world.senderContext,
    name: world.consumerName,
    transport,
    prefetch: 100,
    ...extra,
  });
}

function duplicates(processes: FixtureProcess[]): number {
  return processes.reduce((sum, p) => sum + p.lines.filter((l) => l.startsWith('D ')).length, 0);
}

for (const kind of BROKERS) {
  const transport: TransportConfig = { kind, redeliverAfterMs: 2000 };

  test(`${kind}: 10k events from 8 writers, relay SIGKILLed twice and consumer once — exactly-once effect, streams in order`, { timeout: 300_000 }, async (t) => {
    if (!(await requireBroker(kind, t))) return;
    const world = await createWorld(t);
    const window = 200;
    const relays: FixtureProcess[] = [startRelay(world, transport, window)];
    const consumers: FixtureProcess[] = [startConsumer(world, transport)];
    world.defer(() => Promise.all([...relays, ...consumers].map((p) => p.kill('SIGKILL'))));
    await relays[0]!.waitForLine((l) => l === 'ready');
    await consumers[0]!.waitForLine((l) => l === 'ready');

    const writing = write(world, 10_000);
    const handledAtLeast = (n: number) => waitFor(async () => (await effectCount(world)).distinct >= n, { timeoutMs: 120_000, intervalMs: 20, message: `${n} effects` });

    await handledAtLeast(2000);
    await relays[0]!.kill('SIGKILL');
    relays.push(startRelay(world, transport, window));
    await handledAtLeast(3500);
    await consumers[0]!.kill('SIGKILL');
    consumers.push(startConsumer(world, transport));
    await handledAtLeast(5000);
    await relays[1]!.kill('SIGKILL');
    relays.push(startRelay(world, transport, window));
    await writing;

    await waitFor(async () => (await effectCount(world)).distinct >= 10_000, { timeoutMs: 120_000, intervalMs: 50, message: 'all 10k effects' });
    await Promise.all([relays[2]!.kill('SIGTERM'), consumers[1]!.kill('SIGTERM')]);
    await assertExactlyOnceInOrder(world, 10_000);
    const dropped = duplicates(consumers);
    t.diagnostic(`${kind}: duplicates on the wire ${dropped} (bound ${2 * window + 100})`);
    // Per relay kill at most one window is published again; per consumer kill at most its prefetch comes back.
    assert.ok(dropped <= 2 * window + 100, `duplicates ${dropped} within the in-flight windows`);
    const parked = await world.pool.query(`SELECT count(*)::int AS n FROM "${world.receiverContext}".consumer_messages WHERE status = 'parked'`);
    assert.equal(parked.rows[0].n, 0, 'nothing parked');
  });

  test(`${kind}: PostgreSQL connections cut, malformed messages injected, deliveries acknowledged and flagged`, { timeout: 180_000 }, async (t) => {
    if (!(await requireBroker(kind, t))) return;
    const world = await createWorld(t, 2000);
    const relay = startRelay(world, transport, 200);
    // Unknown types are ignored by default; this consumer parks them, so all four bad messages show.
    let consumer = startConsumer(world, transport, { reorderWaitMs: 2000, unknownTypes: 'park' });
    world.defer(() => Promise.all([relay.kill('SIGKILL'), consumer.kill('SIGKILL')]));
    await relay.waitForLine((l) => l === 'ready');
    await consumer.waitForLine((l) => l === 'ready');

    const writing = write(world, 3000);
    // Malformed messages straight into the broker, between the relay's.
    const injector = await createTransport(transport);
    world.defer(() => injector.close());
    const valid = (type: string, data: unknown, streamId: string) =>
      encodeCloudEvent(world.senderContext, {
        type,
        data,
        metadata: { eventId: randomUUID(), eventNumber: 999_999, streamId, streamVersion: 1, causationId: null, correlationId: null, createdAt: new Date(), custom: {} },
      });
    const missingVersion = JSON.parse(valid('ItemAdded', { n: 1 }, 'm-3').toString());
    delete missingVersion.heraldversion;
    const bad = [
      { body: Buffer.from('this is not json'), reason: /not JSON/ },
      { body: Buffer.from(JSON.stringify(missingVersion)), reason: /heraldversion/ },
      { body: valid('ItemRemoved', { n: 1 }, 'm-1'), reason: /unknown event type 'ItemRemoved'/ },
      { body: valid('ItemAdded', { n: 'x' }, 'm-2'), reason: /Invalid payload for event 'ItemAdded'/ },
    ];
    await injector.publish('events', bad.map((b, i) => ({ id: randomUUID(), source: world.senderContext, type: 'ItemAdded', key: `m-${i}`, body: b.body })));

    // Cut every connection of the relay and the consumer, twice.
    for (const at of [800, 1600]) {
      await waitFor(async () => (await effectCount(world)).distinct >= at, { timeoutMs: 60_000, intervalMs: 20, message: `${at} effects` });
      const { rows } = await world.pool.query(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name LIKE 'herald-fixture-%' AND pid <> pg_backend_pid()`,
      );
      assert.ok(rows[0].n > 0, 'connections were cut');
    }
    await writing;
    await waitFor(async () => (await effectCount(world)).distinct >= 3000, { timeoutMs: 90_000, intervalMs: 50, message: 'all 3000 effects after the cuts' });

    const { rows: parked } = await world.pool.query<{ reason: string; status: string }>(
      `SELECT reason, status FROM "${world.receiverContext}".consumer_messages WHERE status = 'parked' ORDER BY received_at`,
    );
    assert.equal(parked.length, bad.length, `parked: ${parked.map((p) => p.reason).join(' | ')}`);
    for (const b of bad) assert.ok(parked.some((p) => b.reason.test(p.reason)), `a message parked for ${b.reason}`);

    // The sender learns, without a write per event on its side, that the consumer handled everything.
    const head = (await world.sender.status()).head;
    assert.equal(head, 3000);
    await waitFor(
      async () => (await world.sender.deliveries.status(head)).find((d) => d.consumer === world.consumerName && d.handledThrough === head),
      { timeoutMs: 30_000, intervalMs: 100, message: 'every event acknowledged' },
    );
    const journey = await world.sender.deliveries.journey(1);
    assert.equal(journey?.consumers.find((c) => c.consumer === world.consumerName)?.status, 'handled');

    // Stop the consumer: the events it misses are flagged once older than flagAfterMs.
    await consumer.kill('SIGTERM');
    await write(world, 20, 2, 10, 3000);
    await waitFor(async () => (await world.sender.status()).head === 3020, { message: 'the 20 late events sequenced' });
    const late = await world.sender.readLog(3000, 100);
    const flagged = await waitFor(
      async () => {
        const list = await world.sender.deliveries.flagged({ consumer: world.consumerName });
        return list.length === 20 ? list : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 200, message: '20 flagged deliveries' },
    );
    assert.deepEqual(flagged.map((f) => f.eventNumber), late.map((e) => e.metadata.eventNumber));
    const status = (await world.sender.status()).deliveries.find((d) => d.consumer === world.consumerName)!;
    assert.equal(status.flagged, 20);
    assert.equal(status.handledThrough, 3000);
    const lateJourney = await world.sender.deliveries.journey(late[0]!.metadata.eventId);
    assert.equal(lateJourney?.consumers.find((c) => c.consumer === world.consumerName)?.status, 'flagged');

    // Started again, it catches up and the flags clear.
    consumer = startConsumer(world, transport, { reorderWaitMs: 2000 });
    await consumer.waitForLine((l) => l === 'ready');
    await waitFor(async () => (await world.sender.deliveries.status(head + 20)).find((d) => d.consumer === world.consumerName && d.flagged === 0 && d.handledThrough === head + 20), {
      timeoutMs: 30_000,
      intervalMs: 100,
      message: 'flags cleared after catch-up',
    });
    await Promise.all([relay.kill('SIGTERM'), consumer.kill('SIGTERM')]);
    await assertExactlyOnceInOrder(world, 3020);
  });

  test(`${kind}: broker stopped for 20 s mid-run — relay unhealthy, then resumes; nothing lost`, { timeout: 180_000 }, async (t) => {
    if (!(await requireBroker(kind, t))) return;
    const world = await createWorld(t);
    let config: TransportConfig = { kind, redeliverAfterMs: 2000 };
    let control = { stop: () => stopBroker(kind), start: () => startBroker(kind) };
    if (kind === 'redis') {
      // The shared Redis keeps nothing on disk; a private one with AOF (fsync always) survives a restart.
      const server = await startPrivateRedis(6391);
      world.defer(() => server.dispose());
      config = { ...config, url: server.url };
      control = { stop: () => server.stop(), start: () => server.start() };
    }
    const relayTransport = await createTransport(config);
    const consumerTransport = await createTransport(config);
    const sender = createHerald({ pool: world.pool, context: world.senderContext, pollMs: 100 });
    const relay = sender.relay({ transport: relayTransport, window: 200 });
    const receiver = createHerald({ pool: world.pool, context: world.receiverContext, pollMs: 100 });
    receiver.consume({
      transport: consumerTransport,
      name: world.consumerName,
      source: world.senderContext,
      events: [ItemAdded],
      handlers: {
        ItemAdded: (_event, meta, { tx }) => recordEffect(tx, world.receiverContext, meta),
      },
    });
    await sender.start();
    await receiver.start();
    let brokerDown = false;
    world.defer(async () => {
      if (brokerDown) await control.start();
      await receiver.stop();
      await sender.stop();
      await relayTransport.close();
      await consumerTransport.close();
    });

    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        await sender.append(`s-${written % 20}`, ItemAdded.create({ n: written }));
        written++;
        await new Promise((r) => setTimeout(r, 10)); // a steady trickle of writes, not synchronisation
      }
    })();
    await waitFor(async () => (await effectCount(world)).distinct >= 100, { timeoutMs: 30_000, message: 'flowing before the stop' });
    const stoppedAt = Date.now();
    await control.stop();
    brokerDown = true;
    await waitFor(() => !relay.health().healthy, { timeoutMs: 15_000, message: 'relay reports unhealthy' });
    const status = await sender.status();
    assert.equal(status.relays[0]?.healthy, false);
    assert.match(status.relays[0]?.lastError ?? '', /.+/);
    // The outage lasts 20 s (the scenario, not a wait for a condition).
    await new Promise((r) => setTimeout(r, Math.max(0, 20_000 - (Date.now() - stoppedAt))));
    const writtenDuringOutage = written;
    await control.start();
    brokerDown = false;
    writing = false;
    await writer;
    assert.ok(writtenDuringOutage > 200, 'writes went on while the broker was down');
    await waitFor(async () => (await effectCount(world)).distinct >= written, { timeoutMs: 90_000, intervalMs: 100, message: `backlog of ${written} drained` });
    await waitFor(() => relay.health().healthy, { timeoutMs: 10_000, message: 'relay healthy again' });
    await assertExactlyOnceInOrder(world, written);
  });
}
