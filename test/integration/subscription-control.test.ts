/**
 * Operators' controls of subscriptions and relays: pause, resume and reset, requested through the
 * database from a Herald that runs nothing (another "process"), or from a real other process, and
 * carried out by whichever process holds the lease — between two batches, never losing or
 * doubling an effect — or directly in the database when nobody holds it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  InvalidArgumentError,
  InvalidIdentifierError,
  park,
  type HeraldEvents,
  UnknownSubscriptionError,
} from '../../src/index.js';
import { decodeCloudEvent } from '../../src/transports/cloudevents.js';
import { controlWorld } from '../helpers/control-world.js';
import { waitFor } from '../helpers/db.js';
import { MemoryBroker, MemoryTransport } from '../helpers/memory-transport.js';
import { startFixture } from '../helpers/processes.js';

test('pause: the holder stops within a deadline while events keep coming, keeps its lease; resume catches up', async (t) => {
  const w = await controlWorld(t);
  const runner = w.make({ processId: 'runner' }).subscribe(w.counting('pausable')).subscribe(w.counting('witness'));
  await runner.start();
  await w.appendN(runner, 20);
  await w.caughtUp('pausable', await w.sequencedHead());
  const reported: HeraldEvents['subscriptionPaused'][] = [];
  const resumed: HeraldEvents['subscriptionResumed'][] = [];
  w.operator.on('subscriptionPaused', (e) => reported.push(e)).on('subscriptionResumed', (e) => resumed.push(e));

  let appending = true;
  const appender = (async () => {
    while (appending) {
      await runner.append('live', { type: 'Tick', data: {} });
      await new Promise((resolve) => setTimeout(resolve, 5)); // a steady trickle, not a flood
    }
  })();
  await waitFor(async () => ((await w.statusOf('pausable'))?.position ?? 0) > 25, { message: 'live events handled' });

  const started = Date.now();
  const outcome = await w.operator.subscriptions.pause('pausable', { reason: 'deploying v2', by: 'alice' });
  assert.ok(Date.now() - started < 5000, `confirmed within 5 s (took ${Date.now() - started} ms)`);
  assert.equal(outcome.status, 'paused');
  assert.deepEqual([outcome.by, outcome.reason], ['alice', 'deploying v2']);
  assert.deepEqual(reported.map((e) => [e.subscription, e.by, e.reason]), [['pausable', 'alice', 'deploying v2']]);

  // Nothing more is handled: the witness goes on through 30 more events, the paused one does not move.
  const frozen = await w.statusOf('pausable');
  const frozenEffects = await w.effects('pausable');
  assert.equal(Math.max(...frozenEffects.keys()), frozen!.position, 'its checkpoint is written: status shows where it stopped');
  await waitFor(async () => ((await w.statusOf('witness'))?.position ?? 0) >= frozen!.position + 30, { timeoutMs: 20_000, message: 'the witness goes on' });
  const paused = await w.statusOf('pausable');
  assert.equal(paused?.position, frozen!.position);
  assert.deepEqual(await w.effects('pausable'), frozenEffects);
  assert.equal(paused?.state, 'paused');
  assert.equal(paused?.leaseOwner, 'runner', 'the holder keeps its lease, so no standby runs it');
  assert.deepEqual([paused?.paused?.by, paused?.paused?.reason, paused?.paused?.inEffect], ['alice', 'deploying v2', true]);
  assert.ok(paused!.paused!.at.getTime() <= Date.now());
  // Pausing again changes nothing (the first pause stays, no second event).
  assert.equal((await w.operator.subscriptions.pause('pausable', { reason: 'again' })).reason, 'deploying v2');
  assert.equal(reported.length, 1);

  appending = false;
  await appender;
  assert.equal(await w.operator.subscriptions.resume('pausable', { by: 'bob' }), true);
  assert.deepEqual(resumed, [{ subscription: 'pausable', by: 'bob' }]);
  const head = await w.sequencedHead();
  await w.caughtUp('pausable', head);
  await w.assertEffects('pausable', head, () => 1);
  const running = await w.statusOf('pausable');
  assert.deepEqual([running?.state, running?.paused], ['running', null]);
  assert.equal(await w.operator.subscriptions.resume('pausable'), false, 'resuming what is not paused says so');
});

test('pause survives a restart: a process that starts finds it paused and neither runs it nor calls init()', async (t) => {
  const w = await controlWorld(t);
  const first = w.make({ processId: 'first' }).subscribe(w.counting('durable'));
  await first.start();
  await w.appendN(first, 5);
  await w.caughtUp('durable', await w.sequencedHead());
  assert.equal((await w.operator.subscriptions.pause('durable', { reason: 'maintenance' })).status, 'paused');
  await first.stop();
  assert.equal((await w.statusOf('durable'))?.state, 'paused', 'paused, not just stopped');

  let inits = 0;
  const second = w.make({ processId: 'second' }).subscribe(w.counting('durable', { init: () => void inits++ })).subscribe(w.counting('witness'));
  await second.start();
  await w.appendN(second, 5);
  const head = await w.sequencedHead();
  await w.caughtUp('witness', head);
  const status = await w.statusOf('durable');
  assert.deepEqual([status?.state, status?.leaseOwner, status?.position, status?.paused?.reason], ['paused', 'second', 5, 'maintenance']);
  assert.equal(inits, 0, 'init() waits for the resume');
  await w.assertEffects('durable', 5, () => 1);

  await w.operator.subscriptions.resume('durable');
  await w.caughtUp('durable', head);
  assert.equal(inits, 1);
  await w.assertEffects('durable', head, () => 1);
});

test('a pause whose notification was lost is noticed at the next lease renewal', async (t) => {
  const w = await controlWorld(t);
  const runner = w.make({ processId: 'runner' }).subscribe(w.counting('deaf'));
  await runner.start();
  // Written behind Herald's back: no notification, only the row says so.
  await w.pool.query(`UPDATE "${w.context}".subscriptions SET paused_at = now(), paused_by = 'sql' WHERE name = 'deaf'`);
  await waitFor(async () => (await w.statusOf('deaf'))?.paused?.inEffect, { timeoutMs: 5000, message: 'the holder confirmed the pause' });
  await w.appendN(runner, 3);
  await w.sequencedHead();
  await w.pool.query(`UPDATE "${w.context}".subscriptions SET paused_at = NULL, pause_effective_at = NULL WHERE name = 'deaf'`);
  await w.caughtUp('deaf', 3, 5000);
  await w.assertEffects('deaf', 3, () => 1);
});

test('while paused, due retries and operators\' retries of parked events wait too', async (t) => {
  const w = await controlWorld(t);
  let broken = true;
  const runner = w.make({ processId: 'runner' }).subscribe(
    w.counting('fragile', {
      onError: () => park('dependency down'),
      async handle(_e, meta, { tx }) {
        if (broken && meta.streamId === 'bad') throw new Error('dependency down');
        await tx.query(`INSERT INTO "${w.context}".effects (subscription, event_number) VALUES ('fragile', $1)`, [meta.eventNumber]);
      },
    }),
  );
  await runner.start();
  await runner.append('bad', { type: 'Tick', data: {} });
  await waitFor(async () => (await w.operator.parked.list({ subscription: 'fragile', status: ['parked'] })).length === 1, { message: 'parked' });
  await w.operator.subscriptions.pause('fragile');
  broken = false;
  const retry = await w.operator.parked.retry('fragile', 1, { wait: true, timeoutMs: 1500 });
  assert.equal(retry.status, 'requested', 'not carried out while paused');
  assert.equal((await w.effects('fragile')).size, 0);
  await w.operator.subscriptions.resume('fragile');
  await waitFor(async () => (await w.operator.parked.list({ subscription: 'fragile', status: ['retried'] })).length === 1, { message: 'retried after the resume' });
  await w.assertEffects('fragile', 1, () => 1);
});

test('pause and reset from this process while a real child process holds the lease', async (t) => {
  const w = await controlWorld(t, 'ctlp');
  const child = startFixture('subscriber', { context: w.context, name: 'remote', processId: 'child', batchSize: 5, leaseTtlMs: 1500 });
  t.after(() => child.kill('SIGKILL'));
  await child.waitForLine((line) => line === 'ready');
  const local = w.make({ processId: 'local' }).subscribe(w.counting('witness'));
  await local.start();
  await w.appendN(local, 10);
  await w.caughtUp('remote', await w.sequencedHead());

  assert.equal((await w.operator.subscriptions.pause('remote', { reason: 'from another process' })).status, 'paused');
  await w.appendN(local, 10);
  const head = await w.sequencedHead();
  await w.caughtUp('witness', head);
  const paused = await w.statusOf('remote');
  assert.deepEqual([paused?.state, paused?.leaseOwner, paused?.position], ['paused', 'child', 10]);
  await w.assertEffects(null, 10, () => 1, 'child');

  await w.operator.subscriptions.resume('remote');
  await w.caughtUp('remote', head);
  await w.assertEffects(null, head, () => 1, 'child');

  const reset = await w.operator.subscriptions.reset('remote', { eventNumber: 15 });
  assert.deepEqual(reset, { status: 'reset', from: head, to: 15 });
  await w.caughtUp('remote', head);
  await waitFor(async () => (await w.effects(null, 'child')).get(head) === 2, { message: 'replayed through the head' });
  await w.assertEffects(null, head, (n) => (n > 15 ? 2 : 1), 'child');
  await child.kill('SIGTERM');
});

test('reset: to the origin replays every event exactly once more; to an event number, to a time, to current (skips)', async (t) => {
  const w = await controlWorld(t);
  const runner = w.make({ processId: 'runner' }).subscribe(w.counting('replay'));
  await runner.start();
  await w.appendN(runner, 10);
  await w.caughtUp('replay', await w.sequencedHead());
  const reported: HeraldEvents['subscriptionReset'][] = [];
  w.operator.on('subscriptionReset', (e) => reported.push(e));

  assert.deepEqual(await w.operator.subscriptions.reset('replay', 'origin', { by: 'carol' }), { status: 'reset', from: 10, to: 0 });
  assert.deepEqual(reported, [{ subscription: 'replay', by: 'carol', status: 'reset', from: 10, to: 0 }]);
  await w.caughtUp('replay', 10);
  await waitFor(async () => (await w.effects('replay')).get(10) === 2, { message: 'replayed' });
  await w.assertEffects('replay', 10, () => 2);
  const last = (await w.statusOf('replay'))?.lastReset;
  assert.deepEqual([last?.from, last?.to, last?.by], [10, 0, 'carol']);

  assert.deepEqual(await w.operator.subscriptions.reset('replay', { eventNumber: 7 }), { status: 'reset', from: 10, to: 7 });
  await waitFor(async () => (await w.effects('replay')).get(10) === 3, { message: 'replayed from 8' });
  await w.assertEffects('replay', 10, (n) => (n > 7 ? 3 : 2));

  // A time: the database's clock, between two appends (events.created_at is the database's now()).
  const { rows } = await w.pool.query<{ t: Date }>('SELECT clock_timestamp() AS t');
  await w.appendN(runner, 3);
  await w.caughtUp('replay', 13);
  assert.deepEqual(await w.operator.subscriptions.reset('replay', { time: rows[0]!.t }), { status: 'reset', from: 13, to: 10 });
  await waitFor(async () => (await w.effects('replay')).get(13) === 2, { message: 'replayed since the time' });
  await w.assertEffects('replay', 13, (n) => (n > 10 ? 2 : n > 7 ? 3 : 2));
  const future = new Date(Date.now() + 3_600_000);
  assert.deepEqual(await w.operator.subscriptions.reset('replay', { time: future }), { status: 'reset', from: 13, to: 13 }, 'a time after the last event: the head');

  // Current skips: while paused (a reset is carried out while paused, and it stays paused).
  await w.operator.subscriptions.pause('replay');
  await w.appendN(runner, 5); // 14…18
  await w.sequencedHead();
  assert.deepEqual(await w.operator.subscriptions.reset('replay', 'current'), { status: 'reset', from: 13, to: 18 });
  const skipped = await w.statusOf('replay');
  assert.deepEqual([skipped?.state, skipped?.position, skipped?.lag], ['paused', 18, 0]);
  await w.operator.subscriptions.resume('replay');
  await w.appendN(runner, 1); // 19
  await w.caughtUp('replay', 19);
  await w.assertEffects('replay', 19, (n) => (n === 19 ? 1 : n > 13 ? 0 : n > 10 ? 2 : n > 7 ? 3 : 2));
});

test('reset: parked rows after the new position are closed (their events come again), rows before it stay', async (t) => {
  const w = await controlWorld(t);
  const broken = new Set(['b', 'c']);
  const runner = w.make({ processId: 'runner' }).subscribe(
    w.counting('parking', {
      onError: () => park('broken stream'),
      async handle(_e, meta, { tx }) {
        if (broken.has(meta.streamId)) throw new Error(`stream ${meta.streamId} is broken`);
        await tx.query(`INSERT INTO "${w.context}".effects (subscription, event_number) VALUES ('parking', $1)`, [meta.eventNumber]);
      },
    }),
  );
  await runner.start();
  // 1:a 2:b (parked) 3:a 4:b (waits behind 2) 5:c (parked) 6:c (waits behind 5) 7:a
  for (const stream of ['a', 'b', 'a', 'b', 'c', 'c', 'a']) await runner.append(stream, { type: 'Tick', data: {} });
  await w.caughtUp('parking', 7);
  const rows = async () => {
    const { rows: found } = await w.pool.query<{ n: string; status: string; reason: string | null }>(
      `SELECT event_number AS n, status, reason FROM "${w.context}".parked_events WHERE subscription = 'parking' ORDER BY event_number`,
    );
    return found.map((r) => ({ n: Number(r.n), status: r.status, reason: r.reason }));
  };
  assert.deepEqual((await rows()).map((r) => [r.n, r.status]), [[2, 'parked'], [4, 'waiting'], [5, 'parked'], [6, 'waiting']]);

  broken.delete('c'); // stream c works now; b does not
  assert.deepEqual(await w.operator.subscriptions.reset('parking', { eventNumber: 3 }), { status: 'reset', from: 7, to: 3 });
  await waitFor(async () => (await w.effects('parking')).get(7) === 2, { message: 'replayed from 4' });
  const after = await rows();
  assert.deepEqual(after.map((r) => [r.n, r.status]), [[2, 'parked'], [4, 'waiting'], [5, 'skipped']]);
  assert.match(after[2]!.reason ?? '', /closed by a reset to 3 .*handled again from the log/);
  // 4 waits behind 2 again (replayed from the log); 5 and 6 were handled from the log this time.
  await w.assertEffects('parking', 7, (n) => ({ 1: 1, 3: 1, 5: 1, 6: 1, 7: 2 })[n] ?? 0);
  const status = await w.statusOf('parking');
  assert.deepEqual([status?.parked, status?.blockedStreams], [1, 1]);
});

test('reset of a subscription nobody runs is done in the database; a stale holder\'s request is taken over', async (t) => {
  const w = await controlWorld(t);
  const runner = w.make({ processId: 'runner' }).subscribe(w.counting('idle'));
  await runner.start();
  await w.appendN(runner, 6);
  await w.caughtUp('idle', await w.sequencedHead());
  await runner.stop();

  assert.deepEqual(await w.operator.subscriptions.reset('idle', { eventNumber: 2 }, { wait: false }), { status: 'reset', from: 6, to: 2 });
  assert.equal((await w.statusOf('idle'))?.position, 2);

  // A holder that stopped renewing (its process hung): the request waits, then is carried out by the caller once the lease expired.
  const table = `"${w.context}".subscriptions`;
  await w.pool.query(`UPDATE ${table} SET lease_owner = 'ghost', lease_expires_at = now() + interval '1 hour', state = 'running' WHERE name = 'idle'`);
  assert.deepEqual(await w.operator.subscriptions.reset('idle', 'origin', { timeoutMs: 200 }), { status: 'requested', from: 2, to: 0 });
  assert.deepEqual((await w.statusOf('idle'))?.resetRequested?.to, 0);
  const superseding = w.operator.subscriptions.reset('idle', { eventNumber: 1 });
  await waitFor(async () => (await w.statusOf('idle'))?.resetRequested?.to === 1, { message: 'the later request replaced the first' });
  await w.pool.query(`UPDATE ${table} SET lease_expires_at = now() - interval '1 second' WHERE name = 'idle'`);
  assert.deepEqual(await superseding, { status: 'reset', from: 2, to: 1 });
  const status = await w.statusOf('idle');
  assert.deepEqual([status?.position, status?.resetRequested, status?.lastReset?.to], [1, null, 1]);
});

test('reset while a batch is in flight waits for it: nothing lost, nothing doubled; a deferred checkpoint stays consistent', async (t) => {
  const w = await controlWorld(t);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let reached = false;
  const seen: number[] = [];
  const warnings: string[] = [];
  const logger = { debug() {}, info() {}, error() {}, warn: (_o: object, msg?: string) => void warnings.push(msg ?? '') };
  const writer = w.make({ processId: 'writer' });
  await w.appendN(writer, 30);
  const runner = w
    .make({ processId: 'runner', logger })
    .subscribe(
      w.counting('inflight', {
        batchSize: 10,
        async handle(_e, meta, { tx }) {
          await tx.query(`INSERT INTO "${w.context}".effects (subscription, event_number) VALUES ('inflight', $1)`, [meta.eventNumber]);
          if (meta.eventNumber === 5 && !reached) {
            reached = true;
            await gate;
          }
        },
      }),
    )
    // No database writes: its checkpoint is deferred (stored lags behind the handled position).
    .subscribe({ name: 'deferred', batchSize: 10, checkpointAfterMs: 600_000, handle: (_e, meta) => void seen.push(meta.eventNumber) });
  await runner.start();
  await waitFor(() => reached, { message: 'the first batch is in flight' });
  const resetting = w.operator.subscriptions.reset('inflight', 'origin');
  await waitFor(async () => (await w.statusOf('inflight'))?.resetRequested !== null, { message: 'the request is stored' });
  assert.equal((await w.statusOf('inflight'))?.position, 0, 'not carried out in the middle of the batch');
  release();
  const outcome = await resetting;
  assert.equal(outcome.status, 'reset');
  assert.ok(outcome.from >= 10 && outcome.from % 10 === 0, `carried out between batches (from ${outcome.from})`);
  await w.caughtUp('inflight', 30);
  await waitFor(async () => (await w.effects('inflight')).get(30) === (outcome.from === 30 ? 2 : 1), { message: 'replayed' });
  await w.assertEffects('inflight', 30, (n) => (n <= outcome.from ? 2 : 1));

  await waitFor(() => seen.length === 30, { message: 'the deferred one handled everything' });
  assert.equal((await w.statusOf('deferred'))?.position, 0, 'its checkpoint is deferred');
  assert.deepEqual(await w.operator.subscriptions.reset('deferred', { eventNumber: 20 }), { status: 'reset', from: 30, to: 20 });
  await w.appendN(writer, 5);
  await waitFor(() => seen.length === 45, { message: 'replayed 21…30, then 31…35' });
  assert.deepEqual(seen.slice(30), [21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35]);
  await runner.stop(); // writes the deferred checkpoint, fenced on the stored one
  assert.equal((await w.statusOf('deferred'))?.position, 35);
  assert.deepEqual(warnings, [], 'no lease lost, no failed checkpoint write');
});

test('relay: pause stops publishing; reset re-publishes from the new position', async (t) => {
  const w = await controlWorld(t);
  const broker = new MemoryBroker();
  const audit = broker.group('events', w.context, 'audit'); // sees every message published, in order
  const published = () => audit.waiting.map((m) => decodeCloudEvent(m.body).metadata.eventNumber);
  const runner = w.make({ processId: 'runner' }).subscribe(w.counting('witness'));
  const relay = runner.relay({ name: 'outbox', transport: new MemoryTransport(broker), collectAcknowledgements: false });
  await runner.start();
  await w.appendN(runner, 10);
  await waitFor(() => audit.waiting.length === 10, { message: '10 published' });
  await w.caughtUp('outbox', 10);

  assert.equal((await w.operator.subscriptions.pause('outbox')).status, 'paused');
  await w.appendN(runner, 3);
  await w.caughtUp('witness', 13);
  assert.deepEqual(published(), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal((await w.statusOf('outbox'))?.state, 'paused');
  assert.equal(relay.health().healthy, true);

  assert.deepEqual(await w.operator.subscriptions.reset('outbox', { eventNumber: 6 }), { status: 'reset', from: 10, to: 6 });
  await w.operator.subscriptions.resume('outbox');
  await waitFor(() => audit.waiting.length === 17, { message: '7…13 published (again)' });
  await w.caughtUp('outbox', 13);
  assert.deepEqual(published(), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 7, 8, 9, 10, 11, 12, 13]);
});

test('bad inputs: unknown subscription, bad reset target, bad options', async (t) => {
  const w = await controlWorld(t);
  const runner = w.make().subscribe(w.counting('known'));
  await runner.start();
  await w.appendN(runner, 2);
  await w.caughtUp('known', await w.sequencedHead());
  const controls = w.operator.subscriptions;
  for (const attempt of [() => controls.pause('nope'), () => controls.resume('nope'), () => controls.reset('nope', 'origin')]) {
    await assert.rejects(attempt, (error: unknown) => error instanceof UnknownSubscriptionError && /No subscription named 'nope'/.test(error.message));
  }
  const invalid = (pattern: RegExp) => (error: unknown) => error instanceof InvalidArgumentError && pattern.test(error.message);
  await assert.rejects(controls.reset('known', { eventNumber: 3 }), invalid(/Invalid to: event 3 is beyond the head of the log \(2\)/));
  await assert.rejects(controls.reset('known', 'start' as never), invalid(/Invalid to: use 'origin', 'current'/));
  await assert.rejects(controls.reset('known', { eventNumber: -1 }), invalid(/eventNumber must be a whole number ≥ 0/));
  await assert.rejects(controls.reset('known', { time: new Date('nope') }), invalid(/time must be a valid Date/));
  await assert.rejects(controls.reset('known', 'origin', { timeoutMs: -1 }), invalid(/Invalid timeoutMs/));
  await assert.rejects(controls.pause('known', { reason: '' }), invalid(/Invalid reason/));
  await assert.rejects(controls.pause('known', { by: 42 as never }), invalid(/Invalid by/));
  await assert.rejects(controls.pause('known', { wait: 'yes' as never }), invalid(/Invalid wait/));
  await assert.rejects(controls.pause('bad name!'), InvalidIdentifierError);
  const status = await w.statusOf('known');
  assert.deepEqual([status?.position, status?.paused, status?.resetRequested], [2, null, null], 'nothing changed');
});
