/**
 * Relaying an application's own outbox table (the seed's orders_outbox) with `relayOutbox()`:
 * the torture (concurrent writers in their own transactions, rollbacks, a long transaction, a
 * restart), dispatched_at only after confirms, the same version on a re-publish, refusals parked,
 * a sequence changed while relaying, with a broker in memory; then end to end on RabbitMQ, with a
 * consumer in another context and the relay's process killed. The table checks and other
 * mappings are in outbox-table.test.ts.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { createHerald, type Herald } from '../../src/index.js';
import { derivedEventId } from '../../src/outbox/rows.js';
import { requireBroker } from '../helpers/brokers.js';
import { dropContext, uniqueContext, waitFor } from '../helpers/db.js';
import { MemoryBroker, MemoryTransport } from '../helpers/memory-transport.js';
import { assertStreamsInOrder, insert, outboxWorld, published, relayOptions, TestTransport, undispatched } from '../helpers/outbox.js';
import { startFixture } from '../helpers/processes.js';

test('outbox torture: concurrent writers, rollbacks, a long transaction and a restart — every committed row once, in order, none rolled back', { timeout: 120_000 }, async (t) => {
  const world = await outboxWorld(t);
  const broker = new MemoryBroker();
  world.herald.relayOutbox(relayOptions(world, new MemoryTransport(broker)));
  await world.herald.start();
  let running = world.herald;
  const aggregates = Array.from({ length: 12 }, () => randomUUID());
  const committed = new Set<number>();
  const rolledBack = new Set<number>();

  // The long transaction takes an id first and stays open while the writers commit later ids.
  const long = await world.pool.connect();
  world.defer(async () => {
    await long.query('ROLLBACK').catch(() => {});
    long.release();
  });
  const { rows: pidRows } = await long.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  await long.query('BEGIN');
  const longId = await insert(long, world, aggregates[0]!, 'Long', { long: true });

  const writer = async (w: number) => {
    const client = await world.pool.connect();
    try {
      for (let i = 0; i < 40; i++) {
        await client.query('BEGIN');
        const ids: number[] = [];
        for (let r = 0; r <= (w + i) % 3; r++) ids.push(await insert(client, world, aggregates[(w * 7 + i + r) % aggregates.length]!, 'ItemAdded', { w, i, r }));
        // Work after the insert, as an application's transaction does: lower ids often commit after higher ones.
        await client.query('SELECT pg_sleep(random() * 0.004)');
        const rollback = (w * 31 + i) % 4 === 0;
        await client.query(rollback ? 'ROLLBACK' : 'COMMIT');
        for (const id of ids) (rollback ? rolledBack : committed).add(id);
        // Halfway, the relay's process stops and another takes over (a graceful restart).
        if (w === 0 && i === 20) {
          await running.stop();
          running = world.another();
          running.relayOutbox(relayOptions(world, new MemoryTransport(broker)));
          await running.start();
        }
      }
    } finally {
      client.release();
    }
  };
  await Promise.all(Array.from({ length: 6 }, (_, w) => writer(w)));
  assert.notEqual(running, world.herald, 'the relay was restarted while writers wrote');
  assert.ok(rolledBack.size > 0 && committed.size > 100, `${committed.size} committed, ${rolledBack.size} rolled back`);

  // Everything committed below the long transaction's id is relayed; nothing above it while it is open.
  const below = [...committed].filter((id) => id < longId);
  await waitFor(() => below.every((id) => published(broker, world.context).some((e) => e.metadata.eventNumber === id)), { timeoutMs: 30_000, message: 'rows below the open transaction' });
  const status = await waitFor(async () => {
    const [outbox] = (await running.status()).outboxes;
    return outbox?.active && outbox.waitingFor.some((s) => s.pid === pidRows[0]!.pid) ? outbox : undefined;
  }, { timeoutMs: 20_000, message: 'status names the open transaction' });
  assert.ok(status.watermark < longId, `watermark ${status.watermark} below the open transaction's id ${longId}`);
  assert.equal(status.waitingFor[0]!.state, 'idle in transaction');
  const early = published(broker, world.context).filter((e) => e.metadata.eventNumber >= longId);
  assert.deepEqual(early.map((e) => e.metadata.eventNumber), [], 'no row at or after the open transaction was relayed while it was open');

  await long.query('COMMIT');
  committed.add(longId);
  await waitFor(() => new Set(published(broker, world.context).map((e) => e.metadata.eventNumber)).size === committed.size, { timeoutMs: 30_000, message: 'every committed row' });

  const events = published(broker, world.context);
  const numbers = events.map((e) => e.metadata.eventNumber);
  assert.equal(numbers.length, committed.size, 'each committed row published exactly once (the restart was graceful)');
  assert.deepEqual([...numbers].sort((a, b) => a - b), [...committed].sort((a, b) => a - b), 'exactly the committed rows');
  assert.ok(!numbers.some((n) => rolledBack.has(n)), 'no rolled-back row');
  assertStreamsInOrder(events);
  const longEvent = events.find((e) => e.metadata.eventNumber === longId)!;
  assert.equal(longEvent.type, 'Long');
  assert.equal(longEvent.metadata.streamId, aggregates[0]);
  assert.equal(longEvent.metadata.eventId, derivedEventId(world.context, `${world.context}.orders_outbox`, String(longId)));
  assert.deepEqual(longEvent.data, { long: true });
  await waitFor(async () => (await undispatched(world)).length === 0, { message: 'every row dispatched' });
});

test('outbox: dispatched_at is set only once the broker confirmed; a page published again carries the same versions and event ids', { timeout: 60_000 }, async (t) => {
  const world = await outboxWorld(t);
  const transport = new TestTransport();
  const relay = world.herald.relayOutbox(relayOptions(world, transport, { window: 10, pages: 1 }));
  await world.herald.start();
  const a = randomUUID();
  const b = randomUUID();
  for (let i = 0; i < 4; i++) await insert(world.pool, world, i % 2 ? b : a, 'ItemAdded', { i });
  await waitFor(() => published(transport.broker, world.context).length === 4, { message: 'the first 4 rows' });
  await waitFor(async () => (await undispatched(world)).length === 0, { message: 'the first 4 dispatched' });

  // The broker stores the next page but its confirms are lost: the rows stay undispatched and the page goes again.
  transport.loseNextConfirm = true;
  const ids: number[] = [];
  const client = await world.pool.connect();
  try {
    await client.query('BEGIN'); // one transaction: the four rows settle together, in one page
    for (let i = 4; i < 8; i++) ids.push(await insert(client, world, i % 2 ? b : a, 'ItemAdded', { i }));
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  await waitFor(() => published(transport.broker, world.context).length >= 12, { timeoutMs: 20_000, message: 'the page published twice' });
  const events = published(transport.broker, world.context);
  const twice = events.filter((e) => ids.includes(e.metadata.eventNumber));
  assert.equal(twice.length, 8, 'each of the 4 rows published twice');
  for (const id of ids) {
    const [first, second] = twice.filter((e) => e.metadata.eventNumber === id);
    assert.deepEqual(second, first, `row ${id}: the same event id, version and body both times`);
  }
  assertStreamsInOrder(events.filter((e, i) => events.findIndex((x) => x.metadata.eventId === e.metadata.eventId) === i));
  await waitFor(async () => (await undispatched(world)).length === 0, { message: 'dispatched after the confirm' });
  assert.equal(relay.health().healthy, true);

  // While the broker is down nothing is dispatched, and nothing moves; then it all goes, once.
  transport.broker.down = true;
  const downIds: number[] = [];
  for (let i = 8; i < 12; i++) downIds.push(await insert(world.pool, world, a, 'ItemAdded', { i }));
  await waitFor(() => !relay.health().healthy, { message: 'unhealthy while the broker is down' });
  assert.deepEqual(await undispatched(world), downIds, 'rows not confirmed stay undispatched');
  transport.broker.down = false;
  await waitFor(async () => (await undispatched(world)).length === 0, { timeoutMs: 20_000, message: 'dispatched after the outage' });
  assert.equal(published(transport.broker, world.context).filter((e) => downIds.includes(e.metadata.eventNumber)).length, 4);
});

test('outbox: a refused row is parked with dispatched_at NULL; its aggregate waits, others flow; a retry publishes it and the rest in order', { timeout: 60_000 }, async (t) => {
  const world = await outboxWorld(t);
  const transport = new TestTransport();
  transport.refuse = (m) => m.type === 'Huge';
  // One page in flight: nothing of aggregate a can be in flight when its refused row is found.
  const relay = world.herald.relayOutbox(relayOptions(world, transport, { window: 2, pages: 1 }));
  const refused: number[] = [];
  world.herald.on('messageRefused', ({ message }) => refused.push(message.number));
  await world.herald.start();
  const a = randomUUID();
  const b = randomUUID();
  await insert(world.pool, world, a, 'ItemAdded', { n: 1 });
  const huge = await insert(world.pool, world, a, 'Huge', { n: 2 });
  const behind = await insert(world.pool, world, a, 'ItemAdded', { n: 3 });
  for (let n = 1; n <= 3; n++) await insert(world.pool, world, b, 'ItemAdded', { n });
  const parked = await waitFor(async () => {
    const list = await world.herald.parked.list({ subscription: relay.name, status: ['parked', 'waiting'] });
    return list.length === 2 ? list : undefined;
  }, { message: 'the refused row parked, the next of its aggregate waiting' });
  assert.deepEqual(parked.map((p) => [p.eventNumber, p.streamId, p.streamVersion, p.status]), [[huge, a, 2, 'parked'], [behind, a, 3, 'waiting']]);
  assert.match(parked[0]!.error.message ?? '', /message too big/);
  assert.deepEqual(refused, [huge]);
  await waitFor(() => published(transport.broker, world.context).filter((e) => e.metadata.streamId === b).length === 3, { message: 'aggregate b flows' });
  // Confirmed rows are marked right after their confirms: wait for that, then the parked two stay NULL.
  await waitFor(async () => (await undispatched(world)).length === 2, { message: 'the confirmed rows dispatched' });
  assert.deepEqual(await undispatched(world), [huge, behind], 'only confirmed rows are dispatched');

  transport.refuse = () => false;
  assert.equal((await world.herald.parked.retry(relay.name, huge, { wait: true })).status, 'retried');
  await waitFor(async () => (await undispatched(world)).length === 0, { message: 'the retried row and the one behind it dispatched' });
  const events = published(transport.broker, world.context);
  assert.deepEqual(events.filter((e) => e.metadata.streamId === a).map((e) => e.data), [{ n: 1 }, { n: 2 }, { n: 3 }], 'aggregate a in order');
  assertStreamsInOrder(events);
});

test('outbox: a sequence altered to CACHE > 1 while relaying stops the relay (unhealthy, nothing skipped) until it is CACHE 1 again', { timeout: 60_000 }, async (t) => {
  const world = await outboxWorld(t);
  const transport = new TestTransport();
  const relay = world.herald.relayOutbox(relayOptions(world, transport));
  await world.herald.start();
  await insert(world.pool, world, randomUUID(), 'ItemAdded', {});
  await waitFor(() => published(transport.broker, world.context).length === 1, { message: 'first row' });
  await world.pool.query(`ALTER SEQUENCE "${world.context}".orders_outbox_id_seq CACHE 5`);
  await insert(world.pool, world, randomUUID(), 'ItemAdded', {});
  await waitFor(() => /CACHE 5/.test(relay.health().lastError ?? ''), { message: 'unhealthy with the sequence named' });
  assert.equal(published(transport.broker, world.context).length, 1);
  await world.pool.query(`ALTER SEQUENCE "${world.context}".orders_outbox_id_seq CACHE 1`);
  await waitFor(() => published(transport.broker, world.context).length === 2 && relay.health().healthy, { timeoutMs: 20_000, message: 'resumed' });
});

test('outbox end to end on RabbitMQ: writers, the relay SIGKILLed, a consumer in another context — every committed row handled once, each aggregate in order', { timeout: 180_000 }, async (t) => {
  if (!(await requireBroker('rabbitmq', t))) return;
  const world = await outboxWorld(t);
  const receiverContext = uniqueContext('obxrcv');
  const receiver = createHerald({ pool: world.pool, context: receiverContext });
  await receiver.migrate();
  await world.pool.query(
    `CREATE TABLE "${receiverContext}".effects (seq bigserial PRIMARY KEY, event_id uuid NOT NULL, stream_id text NOT NULL, stream_version bigint NOT NULL, event_number bigint NOT NULL)`,
  );
  world.defer(() => dropContext(world.pool, receiverContext));
  const transport = { kind: 'rabbitmq' as const };
  const window = 100;
  const consumer = startFixture('consumer', { context: receiverContext, source: world.context, name: `billing-${randomUUID().slice(0, 8)}`, transport, prefetch: 100 });
  const relays = [startFixture('outbox-relay', { context: world.context, transport, window, leaseTtlMs: 1000 })];
  world.defer(() => Promise.all([consumer, ...relays].map((p) => p.kill('SIGKILL'))));
  await consumer.waitForLine((l) => l === 'ready');
  await relays[0]!.waitForLine((l) => l === 'ready');

  const effects = async () => {
    const { rows } = await world.pool.query<{ total: string; distinct: string }>(`SELECT count(*) AS total, count(DISTINCT event_number) AS distinct FROM "${receiverContext}".effects`);
    return { total: Number(rows[0]!.total), distinct: Number(rows[0]!.distinct) };
  };
  const aggregates = Array.from({ length: 30 }, () => randomUUID());
  const committed: number[] = [];
  let next = 0;
  const writing = Promise.all(
    Array.from({ length: 4 }, async () => {
      const client = await world.pool.connect();
      try {
        for (let n = next++; n < 1500; n = next++) {
          await client.query('BEGIN');
          const id = await insert(client, world, aggregates[(n + Math.floor(n / 30)) % aggregates.length]!, 'ItemAdded', { n });
          const rollback = n % 10 === 3;
          await client.query(rollback ? 'ROLLBACK' : 'COMMIT');
          if (!rollback) committed.push(id);
        }
      } finally {
        client.release();
      }
    }),
  );
  await waitFor(async () => (await effects()).distinct >= 300, { timeoutMs: 60_000, intervalMs: 20, message: '300 effects' });
  await relays[0]!.kill('SIGKILL');
  relays.push(startFixture('outbox-relay', { context: world.context, transport, window, leaseTtlMs: 1000 }));
  await writing;
  await waitFor(async () => (await effects()).distinct >= committed.length, { timeoutMs: 120_000, intervalMs: 50, message: `all ${committed.length} effects` });
  await waitFor(async () => (await undispatched(world)).length === 0, { timeoutMs: 30_000, message: 'every committed row dispatched' });
  await Promise.all([consumer.kill('SIGTERM'), relays[1]!.kill('SIGTERM')]);

  const { total, distinct } = await effects();
  assert.equal(distinct, committed.length, 'every committed row handled');
  assert.equal(total, committed.length, 'no row handled twice (the consumer dropped the re-published ones)');
  const { rows: handled } = await world.pool.query<{ event_number: string }>(`SELECT event_number FROM "${receiverContext}".effects ORDER BY event_number`);
  assert.deepEqual(handled.map((r) => Number(r.event_number)), [...committed].sort((a, b) => a - b), 'exactly the committed rows, none rolled back');
  const { rows: streams } = await world.pool.query<{ stream_id: string; versions: string[]; numbers: string[] }>(
    `SELECT stream_id, array_agg(stream_version ORDER BY seq) AS versions, array_agg(event_number ORDER BY seq) AS numbers FROM "${receiverContext}".effects GROUP BY stream_id`,
  );
  assert.equal(streams.length, aggregates.length);
  for (const row of streams) {
    assert.deepEqual(row.versions.map(Number), row.versions.map((_, i) => i + 1), `aggregate ${row.stream_id} handled in version order`);
    const numbers = row.numbers.map(Number);
    assert.deepEqual(numbers, [...numbers].sort((a, b) => a - b), `aggregate ${row.stream_id} handled in id order`);
  }
  const duplicates = consumer.lines.filter((l) => l.startsWith('D ')).length;
  t.diagnostic(`duplicates on the wire after the SIGKILL: ${duplicates} (bound ${window + 100})`);
  assert.ok(duplicates <= window + 100, `duplicates ${duplicates} within the window in flight`);
  const parked = await world.pool.query(`SELECT count(*)::int AS n FROM "${receiverContext}".consumer_messages WHERE status = 'parked'`);
  assert.equal(parked.rows[0].n, 0, 'nothing parked');
});
