/**
 * The consuming side on its own, on the in-memory broker (test/helpers/memory-transport.ts):
 * messages in the order a test chooses, to check stream order, holding, gap parking, policies and
 * the operator API without a broker (real brokers: across-services.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { park, retry } from '../../src/index.js';
import { encodeCloudEvent } from '../../src/transports/cloudevents.js';
import { createPool, uniqueContext, waitFor } from '../helpers/db.js';
import { noteTaker as setup } from '../helpers/note-taker.js';

test('consumer: a stream arriving out of order is held and handled in version order; other streams flow', async (t) => {
  const s = await setup(t);
  await s.start({});
  await s.send('a', 2);
  await s.send('b', 1);
  await s.send('a', 3);
  await waitFor(async () => (await s.notes()).length === 1, { message: 'b handled while a waits' });
  await waitFor(async () => (await s.messages('held')).length === 2, { message: 'a@2 and a@3 held' });
  await s.send('a', 1);
  const rows = await waitFor(async () => {
    const r = await s.notes();
    return r.length === 4 ? r : undefined;
  }, { message: 'a drained' });
  assert.deepEqual(rows.filter((r) => r.stream_id === 'a').map((r) => r.version), [1, 2, 3]);
  assert.deepEqual(await s.messages('held'), []);
  // A redelivery of something handled changes nothing.
  await s.send('a', 2);
  await s.send('b', 2);
  await waitFor(async () => (await s.notes()).length === 5, { message: 'b@2' });
  assert.equal((await s.notes()).filter((r) => r.stream_id === 'a').length, 3);
});

test('consumer: a gap that does not close is parked after reorderWaitMs; retry accepts the gap, later versions follow', async (t) => {
  const s = await setup(t);
  const consumer = await s.start({ reorderWaitMs: 300 });
  await s.send('g', 1);
  await s.send('g', 3);
  await s.send('g', 4);
  const parked = await waitFor(async () => {
    const p = await s.messages('parked');
    return p.length === 1 ? p : undefined;
  }, { message: 'g@3 parked' });
  assert.equal(parked[0]!.stream_version, '3');
  assert.match(parked[0]!.reason, /stream version 2 did not arrive within 300 ms/);
  await waitFor(async () => (await s.messages('held')).length === 1, { message: 'g@4 still held behind it' });
  assert.equal((await consumer.messages.retry(parked[0]!.message_key)).status, 'retried');
  const rows = await waitFor(async () => {
    const r = await s.notes();
    return r.length === 3 ? r : undefined;
  }, { message: 'g@3 and g@4 after the retry' });
  assert.deepEqual(rows.map((r) => r.version), [1, 3, 4]);
  await assert.rejects(consumer.messages.retry(parked[0]!.message_key), /is retried, not parked/);

  // A gap that closes after its successor was parked: the parked message is held again and replayed in order.
  await s.send('h', 1);
  await s.send('h', 3);
  await waitFor(async () => (await s.messages('parked')).some((m) => m.stream_version === '3'), { message: 'h@3 parked' });
  await s.send('h', 4);
  await s.send('h', 2);
  const h = await waitFor(async () => {
    const r = (await s.notes()).filter((x) => x.stream_id === 'h');
    return r.length === 4 ? r : undefined;
  }, { message: 'h@2, h@3 and h@4 in order' });
  assert.deepEqual(h.map((r) => r.version), [1, 2, 3, 4]);
  assert.deepEqual(await s.messages('parked'), []);
});

test('consumer: handler failures follow the policy (retries, then park); operator retry and skip', async (t) => {
  const s = await setup(t);
  let attempts = 0;
  const consumer = await s.start({
    onError: (_error, _event, failure) => {
      attempts++;
      return failure.attempt < 3 ? retry({ delayMs: 10 }) : park('three strikes');
    },
  });
  await s.send('p', 1, 'poison');
  await s.send('p', 2);
  await s.send('q', 1);
  await waitFor(async () => (await s.messages('parked')).length === 1, { message: 'p@1 parked' });
  await waitFor(async () => (await s.notes()).some((r) => r.stream_id === 'q'), { message: 'q flows' });
  assert.equal(attempts, 3);
  const [parked] = await s.messages('parked');
  assert.equal(parked!.reason, 'three strikes');
  await waitFor(async () => (await s.messages('held')).length === 1, { message: 'p@2 waits behind p@1' });
  const again = await consumer.messages.retry(parked!.message_key);
  // The operator's retry is attempt 4 (the count survives in the database): the policy parks it again.
  assert.equal(again.status, 'parked');
  assert.equal(again.reason, 'three strikes');
  assert.match(again.error ?? '', /cannot note poison/);
  assert.equal(attempts, 4);
  await consumer.messages.skip(parked!.message_key, 'bad data, fixed by hand');
  const rows = await waitFor(async () => {
    const r = (await s.notes()).filter((x) => x.stream_id === 'p');
    return r.length === 1 ? r : undefined;
  }, { message: 'p@2 after the skip' });
  assert.equal(rows[0]!.version, 2);
  assert.deepEqual((await s.messages('skipped')).map((m) => m.reason), ['bad data, fixed by hand']);
});

test('consumer: unknown types (when set to park) and invalid payloads are parked with the reason, and hold back only their stream', async (t) => {
  const s = await setup(t);
  await s.start({ unknownTypes: 'park' });
  await s.send('u', 1, 'x', 'Unheard');
  await s.send('v', 1, { text: 42 });
  await s.send('w', 1);
  await waitFor(async () => (await s.messages('parked')).length === 2, { message: 'two parked' });
  const reasons = (await s.messages('parked')).map((m) => m.reason).sort();
  assert.match(reasons[0]!, /Invalid payload for event 'Noted' at text/);
  assert.match(reasons[1]!, /unknown event type 'Unheard'/);
  await waitFor(async () => (await s.notes()).some((r) => r.stream_id === 'w'), { message: 'w flows' });
});

test("consumer: startFrom 'arrival' starts a stream it never saw at the first version that arrives", async (t) => {
  const s = await setup(t);
  await s.start({ startFrom: 'arrival' });
  await s.send('late', 7);
  await s.send('late', 8);
  await s.send('late', 10);
  const rows = await waitFor(async () => {
    const r = await s.notes();
    return r.length === 2 ? r : undefined;
  }, { message: 'late@7 and late@8' });
  assert.deepEqual(rows.map((r) => r.version), [7, 8]);
  await waitFor(async () => (await s.messages('held')).length === 1, { message: 'late@10 held for late@9' });
});

test('consumer: a handler that times out changes nothing, even what it does after the timeout', async (t) => {
  const s = await setup(t);
  const pool = createPool(2);
  const probe = uniqueContext('probe');
  await pool.query(`CREATE TABLE ${probe} (stream_id text, version int)`);
  t.after(async () => {
    await pool.query(`DROP TABLE IF EXISTS ${probe}`);
    await pool.end();
  });
  let calls = 0;
  await s.start({
    handlerTimeoutMs: 300,
    onError: (_error, _event, failure) => (failure.attempt < 2 ? retry({ delayMs: 10 }) : park('gave up')),
    handlers: {
      async Noted(_event, meta, { tx }) {
        calls++;
        // The first attempt outlives its timeout, then writes: that write must not commit.
        if (calls === 1) await tx.query('SELECT pg_sleep(0.8)').catch(() => {});
        await tx.query(`INSERT INTO ${probe} (stream_id, version) VALUES ($1, $2)`, [meta.streamId, meta.streamVersion]).catch(() => {});
      },
    },
  });
  await s.send('slow', 1);
  await waitFor(() => calls >= 2, { message: 'a second attempt' });
  await waitFor(async () => (await pool.query(`SELECT count(*)::int AS n FROM ${probe}`)).rows[0].n >= 1, { message: 'the retry wrote' });
  // The first attempt's statement was cancelled and its connection dropped: once no backend runs
  // it any more, its late INSERT has had its chance to (wrongly) commit.
  await waitFor(async () => (await pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(0.8)%' AND state = 'active'`)).rows[0].n === 0, { message: 'first attempt gone' });
  const { rows } = await pool.query(`SELECT count(*)::int AS n FROM ${probe}`);
  assert.equal(rows[0].n, 1, 'exactly one effect');
});

test("consumer: a handled stream version arriving with another event id is parked as a divergence, never dropped; a true redelivery is dropped", async (t) => {
  const s = await setup(t);
  await s.start();
  s.send('order-1', 1);
  const second = s.send('order-1', 2);
  await waitFor(async () => (await s.notes()).length === 2, { message: 'versions 1 and 2 handled' });
  // The sender's database was restored from a backup: its next event reuses version 2 (another id).
  // It arrives in one batch with a redelivery of the original version 2 and the next version.
  await s.herald().stop();
  s.send('order-1', 2, 'rewritten after restore');
  const original = { eventId: second, eventNumber: 2, streamId: 'order-1', streamVersion: 2, causationId: null, correlationId: null, createdAt: new Date(), custom: {} };
  s.broker.inject(s.source, encodeCloudEvent(s.source, { type: 'Noted', data: { text: 'order-1@2' }, metadata: original }));
  s.send('order-1', 3);
  await s.restart();
  await waitFor(async () => (await s.notes()).length === 3, { message: 'version 3 handled' });
  const parked = await waitFor(async () => {
    const rows = await s.messages('parked');
    return rows.length === 1 ? rows : undefined;
  }, { message: 'the divergent version 2 parked' });
  assert.equal(parked[0]!.stream_version, '2');
  assert.match(parked[0]!.reason, /^divergence: version 2 of stream 'order-1' was already handled as another event/);
  assert.notEqual(parked[0]!.message_key, second, 'the redelivery of the original was dropped as a duplicate, not parked');
  assert.deepEqual((await s.notes()).map((n) => n.text), ['order-1@1', 'order-1@2', 'order-1@3']);
});

test('consumer: a message delivered twice in one batch is handled once, the copy dropped as a duplicate (not a divergence)', async (t) => {
  const s = await setup(t);
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let gated = false;
  await s.start({
    handlers: {
      async Noted(event, meta, { tx }) {
        if (event.data.text === 'gate') {
          gated = true;
          await gate; // the next messages gather into one batch meanwhile
        }
        await tx.query(`INSERT INTO "${s.context}".notes (stream_id, version, text) VALUES ($1, $2, $3)`, [meta.streamId, meta.streamVersion, event.data.text]);
      },
    },
  });
  s.send('first', 1, 'gate');
  await waitFor(() => gated, { message: 'the first batch is in its handler' });
  const metadata = { eventId: '0190a1b2-0000-7000-8000-00000000c0de', eventNumber: 2, streamId: 'twice', streamVersion: 1, causationId: null, correlationId: null, createdAt: new Date(), custom: {} };
  const body = encodeCloudEvent(s.source, { type: 'Noted', data: { text: 'once' }, metadata });
  s.broker.inject(s.source, body);
  s.broker.inject(s.source, body);
  s.send('twice', 2);
  open();
  await waitFor(async () => (await s.notes()).length === 3, { message: 'all handled' });
  assert.deepEqual((await s.notes()).map((n) => n.text), ['gate', 'once', 'twice@2']);
  assert.deepEqual(await s.messages('parked'), [], 'nothing parked');
});
