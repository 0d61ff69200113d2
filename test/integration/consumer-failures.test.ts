/**
 * The consumer's failure model on an in-memory broker (test/helpers/memory-transport.ts): stored
 * retries whose attempt count survives a restart, validated policy answers and handler results,
 * ALREADY_SEEN, unknown types, and operators' requests carried out by another process — never
 * two runs of one message at once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALREADY_SEEN, createHerald, park, retry } from '../../src/index.js';
import { waitFor } from '../helpers/db.js';
import { noteTaker as setup, type NotesDefinition } from '../helpers/note-taker.js';
import { startFixture } from '../helpers/processes.js';



test('consumer failures: a scheduled retry is stored, and its attempt count survives a restart', async (t) => {
  const s = await setup(t);
  const seen: number[] = [];
  const overrides: NotesDefinition = {
    onError: (_error, _event, failure) => {
      seen.push(failure.attempt);
      return failure.attempt < 5 ? retry({ delayMs: 150, context: { tries: failure.attempt } }) : park('five strikes');
    },
  };
  await s.start(overrides);
  const key = s.send('r', 1, 'poison');
  s.send('r', 2);
  s.send('other', 1);
  await waitFor(async () => (await s.row(key))?.attempts === 2, { message: 'two attempts stored' });
  assert.equal((await s.row(key))!.status, 'scheduled');
  await waitFor(async () => (await s.notes()).some((n) => n.stream_id === 'other'), { message: 'another stream flows meanwhile' });
  await s.restart(overrides);
  const parked = await waitFor(async () => {
    const row = await s.row(key);
    return row?.status === 'parked' ? row : undefined;
  }, { message: 'parked after five attempts in all' });
  assert.equal(parked.attempts, 5);
  assert.equal(parked.reason, 'five strikes');
  // Attempts 1 and 2 in the first process, 3 to 5 after the restart: never counted from 1 again.
  assert.deepEqual(seen.filter((n, i) => seen.indexOf(n) === i), [1, 2, 3, 4, 5]);
  assert.equal(seen.filter((n) => n === 1).length, 1);
  assert.ok(!(await s.notes()).some((n) => n.stream_id === 'r'), 'r@2 waits behind r@1');
  const group = s.broker.group('events', s.source, 'notes');
  assert.equal(group.unsettled, 0, 'every delivery was acked once its outcome was stored');
});

test('consumer failures: a policy that answers nonsense or throws parks the message with a typed reason', async (t) => {
  const s = await setup(t);
  let calls = 0;
  const consumer = await s.start({
    onError: () => {
      calls++;
      if (calls === 1) return undefined as never;
      throw new Error('policy bug');
    },
  });
  const first = s.send('a', 1, 'poison 1');
  const second = s.send('b', 1, 'poison 2');
  await waitFor(async () => (await s.row(first))?.status === 'parked' && (await s.row(second))?.status === 'parked', { message: 'both parked' });
  assert.match((await s.row(first))!.reason!, /^The error policy answered undefined; use retry\(\), skip\(\), park\(\) or stop\(\)/);
  assert.match((await s.row(second))!.reason!, /^The error policy threw: policy bug/);
  const status = await consumer.status();
  assert.equal(status.parked, 2);
  assert.equal(s.broker.group('events', s.source, 'notes').unsettled, 0);
});

test('consumer failures: a handler that returns a value fails with HandlerResultError instead of passing silently', async (t) => {
  const s = await setup(t);
  await s.start({
    onError: () => park(),
    handlers: { Noted: (() => new Error('returned, not thrown')) as never },
  });
  const key = s.send('e', 1);
  const row = await waitFor(async () => {
    const r = await s.row(key);
    return r?.status === 'parked' ? r : undefined;
  }, { message: 'parked' });
  assert.equal(row.error_type, 'HandlerResultError');
  assert.match(row.error_message!, /Handler returned an Error \(Error: returned, not thrown\)/);
});

test('consumer failures: ALREADY_SEEN counts as handled and loses nothing else of its batch', async (t) => {
  const s = await setup(t);
  const consumer = await s.start({
    batchSize: 10,
    handlers: {
      async Noted(event, meta, { tx }) {
        if (event.data.text === 'seen') return ALREADY_SEEN;
        await tx.query(`INSERT INTO "${s.context}".notes (stream_id, version, text) VALUES ($1, $2, $3)`, [meta.streamId, meta.streamVersion, event.data.text]);
      },
    },
  });
  const spans: string[] = [];
  s.herald().telemetry.on('consumer:batch:stop', (e) => spans.push(`${e.metadata.consumer}:${e.metadata.messages}`));
  s.send('x', 1);
  s.send('x', 2, 'seen');
  s.send('x', 3);
  s.send('y', 1);
  await waitFor(async () => (await s.notes()).length === 3, { message: 'three effects' });
  const status = await waitFor(async () => {
    const st = await consumer.status();
    return st.handled + st.alreadySeen === 4 ? st : undefined;
  }, { message: 'four settled' });
  assert.equal(status.alreadySeen, 1);
  assert.ok(spans.length > 0 && spans.every((span) => span.startsWith('notes:')), 'consumer:batch spans');
  assert.equal(status.handled, 3);
  assert.deepEqual((await s.notes()).filter((n) => n.stream_id === 'x').map((n) => n.version), [1, 3]);
  const { rows } = await s.pool.query(`SELECT version FROM "${s.context}".consumer_streams WHERE stream_id = 'x'`);
  assert.equal(Number(rows[0].version), 3, 'the stream moved past the already-seen event');
});

test('consumer failures: unknown types are ignored and counted by default; ignore takes patterns', async (t) => {
  const s = await setup(t);
  const consumer = await s.start({ ignore: ['Audit*', /^internal\./] });
  s.send('u', 1, 'x', 'Unheard');
  s.send('u', 2);
  s.send('u', 3, 'x', 'AuditWritten');
  s.send('u', 4, 'x', 'internal.tick');
  s.send('u', 5, 'x', 'Unheard');
  await waitFor(async () => (await s.notes()).length === 1, { message: 'u@2 handled' });
  const status = await waitFor(async () => {
    const st = await consumer.status();
    return st.ignoredUnknown.Unheard === 2 ? st : undefined;
  }, { message: 'two unknown counted' });
  assert.deepEqual(status.ignoredUnknown, { Unheard: 2 });
  assert.equal(status.parked, 0);
  const { rows } = await s.pool.query(`SELECT version FROM "${s.context}".consumer_streams WHERE stream_id = 'u'`);
  assert.equal(Number(rows[0].version), 5, 'the stream moved past every ignored type');
});

test('consumer failures: an operator in a process without the consumer retries and skips; another process carries it out', async (t) => {
  const s = await setup(t);
  await s.start({ onError: () => park('parked for review') });
  const key = s.send('o', 1, 'poison');
  s.send('o', 2);
  await waitFor(async () => (await s.row(key))?.status === 'parked', { message: 'o@1 parked' });
  // An operator's own Herald: same context, never started, no consumer registered.
  const operator = createHerald({ pool: s.pool, context: s.context });
  const again = await operator.parkedMessages.retry('notes', key, { wait: true, timeoutMs: 10_000 });
  assert.equal(again.status, 'parked');
  assert.match(again.error ?? '', /cannot note poison/);
  assert.equal((await s.row(key))!.attempts, 2);
  const listed = await operator.parkedMessages.list({ consumer: 'notes' });
  assert.deepEqual(listed.map((m) => [m.key, m.status, m.attemptCount, m.streamVersion]), [[key, 'parked', 2, 1]]);
  assert.match(listed[0]!.body ?? '', /poison/);
  const skipped = await operator.parkedMessages.skip('notes', key, 'fixed by hand', { wait: true });
  assert.equal(skipped.status, 'skipped');
  await waitFor(async () => (await s.notes()).some((n) => n.stream_id === 'o' && n.version === 2), { message: 'o@2 after the skip' });
  await assert.rejects(operator.parkedMessages.retry('notes', key), /is skipped, not parked/);
});

test('consumer failures: two processes running the consumer never run one message at once', async (t) => {
  const s = await setup(t);
  await s.pool.query(`CREATE TABLE "${s.context}".runs (id bigserial PRIMARY KEY, worker int, event_id text, started_at timestamptz, ended_at timestamptz)`);
  await s.start({ onError: () => park('first failure') });
  const key = s.send('c', 1, 'poison');
  await waitFor(async () => (await s.row(key))?.status === 'parked', { message: 'parked' });
  await s.herald().stop();
  const workers = [0, 1].map(() => startFixture('message-worker', { context: s.context, source: s.source, name: 'notes', holdMs: 120 }));
  t.after(() => Promise.all(workers.map((w) => w.kill('SIGKILL'))));
  await Promise.all(workers.map((w) => w.waitForLine((l) => l === 'ready')));
  const operator = createHerald({ pool: s.pool, context: s.context });
  const rounds = 8;
  let accepted = 0;
  const runs = async () => (await s.pool.query(`SELECT count(*)::int AS n FROM "${s.context}".runs WHERE ended_at IS NOT NULL`)).rows[0].n;
  for (let i = 0; i < rounds; i++) {
    // Two requests at once: while one is pending the other is told it is busy (both are accepted
    // only if the first was carried out before the second arrived).
    const results = await Promise.allSettled([operator.parkedMessages.retry('notes', key), operator.parkedMessages.retry('notes', key)]);
    accepted += results.filter((r) => r.status === 'fulfilled').length;
    for (const r of results) if (r.status === 'rejected') assert.match(String(r.reason), /a retry was already requested/);
    await waitFor(async () => (await runs()) === accepted && (await s.row(key))?.status === 'parked', { message: `round ${i} done` });
  }
  assert.ok(accepted >= rounds);
  const { rows } = await s.pool.query<{ worker: number; started_at: Date; ended_at: Date | null }>(`SELECT worker, started_at, ended_at FROM "${s.context}".runs ORDER BY started_at`);
  assert.equal(rows.length, accepted, 'one run per accepted request');
  for (let i = 1; i < rows.length; i++) assert.ok(rows[i]!.started_at >= rows[i - 1]!.ended_at!, `run ${i} started before run ${i - 1} ended`);
  assert.equal((await s.row(key))!.attempts, accepted + 1);
});

test('consumer failures: a handler that swallows an SQL error fails with HandlerSqlError and meets the policy', async (t) => {
  const s = await setup(t);
  await s.start({
    onError: () => park('aborted transaction'),
    handlers: {
      async Noted(_event, _meta, { tx }) {
        await tx.query('SELECT 1/0').catch(() => {}); // swallowed: the transaction is now aborted
      },
    },
  });
  const key = s.send('z', 1);
  const row = await waitFor(async () => {
    const r = await s.row(key);
    return r?.status === 'parked' ? r : undefined;
  }, { message: 'parked, not retried as an outage' });
  assert.equal(row.error_type, 'HandlerSqlError');
  assert.equal(s.broker.group('events', s.source, 'notes').unsettled, 0, 'acked');
});

test('consumer failures: an operator retry of a gap-parked message never jumps an earlier version that waits for its retry', async (t) => {
  const s = await setup(t);
  let poisoned = true;
  const consumer = await s.start({
    reorderWaitMs: 200,
    onError: () => retry({ delayMs: 60_000 }),
    handlers: {
      async Noted(event, meta, { tx }) {
        if (poisoned && event.data.text.includes('poison')) throw new Error('not yet');
        await tx.query(`INSERT INTO "${s.context}".notes (stream_id, version, text) VALUES ($1, $2, $3)`, [meta.streamId, meta.streamVersion, event.data.text]);
      },
    },
  });
  s.send('g', 1);
  s.send('g', 2);
  const v4 = s.send('g', 4);
  await waitFor(async () => (await s.row(v4))?.status === 'parked', { message: 'g@4 parked for the gap' });
  const v3 = s.send('g', 3, 'poison');
  await waitFor(async () => (await s.row(v3))?.status === 'scheduled', { message: 'g@3 failed, its retry scheduled' });
  const outcome = await consumer.messages.retry(v4);
  assert.equal(outcome.status, 'held', 'g@4 waits behind g@3 instead of jumping it');
  assert.equal((await s.row(v3))!.status, 'scheduled', 'g@3 is not lost');
  poisoned = false;
  assert.equal((await consumer.messages.retry(v3)).status, 'retried');
  const notes = await waitFor(async () => {
    const n = await s.notes();
    return n.length === 4 ? n : undefined;
  }, { message: 'all four, in order' });
  assert.deepEqual(notes.map((n) => n.version), [1, 2, 3, 4]);
});
