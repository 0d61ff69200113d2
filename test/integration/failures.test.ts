/**
 * When handlers fail: error policies, per-stream parking, operator retries and skips, and
 * retries that never race.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createHerald,
  type FailureContext,
  type Herald,
  type HeraldEvents,
  type HeraldOptions,
  type ParkedFilter,
  InvalidArgumentError,
  NotParkedError,
  park,
  ParkedEventBusyError,
  retry,
  skip,
} from '../../src/index.js';
import { createPool, dropContext, uniqueContext, waitFor } from '../helpers/db.js';

describe('failure handling', () => {
  const pool = createPool(20);
  let context: string;
  const heralds: Herald[] = [];
  const make = (options: Partial<HeraldOptions> = {}) => {
    const herald = createHerald({ pool, context, leaseTtlMs: 2000, pollMs: 50, sequencer: { idlePollMs: 20 }, ...options });
    heralds.push(herald);
    return herald;
  };
  const statusOf = async (herald: Herald, name: string) => (await herald.status()).subscriptions.find((s) => s.name === name)!;
  const numberOf = async (stream: string, version: number) => {
    const { rows } = await pool.query(`SELECT p.event_number::int AS n FROM "${context}".events e JOIN "${context}".positions p ON p.id = e.id
        WHERE e.stream_id = $1 AND e.stream_version = $2`, [
      stream,
      version,
    ]);
    return rows[0]?.n as number | undefined;
  };
  /** Versions of a stream whose effects committed, in commit order (the handler may run more often). */
  const committedVersions = async (subscription: string, stream: string) =>
    (
      await pool.query(`SELECT version FROM "${context}".effects WHERE subscription = $1 AND stream = $2 ORDER BY seq`, [subscription, stream])
    ).rows.map((r) => r.version as number);
  /** Waits until exactly `count` parked-table rows match `filter`, and returns them. */
  const parkedCount = (herald: Herald, filter: ParkedFilter, count: number) =>
    waitFor(
      async () => {
        const rows = await herald.parked.list(filter);
        return rows.length === count ? rows : undefined;
      },
      { message: `${count} parked rows matching ${JSON.stringify(filter)}` },
    );
  const sequenced = (stream: string, version: number) => waitFor(() => numberOf(stream, version), { message: `${stream} v${version} sequenced` });

  before(async () => {
    context = uniqueContext('fail');
    await make().migrate();
    await pool.query(
      `CREATE TABLE "${context}".effects (seq bigserial, event_id uuid NOT NULL, subscription text NOT NULL, stream text, version int)`,
    );
  });
  after(async () => {
    await Promise.all(heralds.map((h) => h.stop()));
    await dropContext(pool, context);
    await pool.end();
  });

  it('a poison event holds back only its stream; operator retry drains it in order; skip moves on without it', async () => {
    const name = 'poison';
    const herald = make();
    let fixed = false;
    const seen: (keyof HeraldEvents)[] = [];
    for (const event of ['attemptFailed', 'eventParked', 'parkedRetried', 'eventSkipped'] as const) herald.on(event, () => seen.push(event));
    herald.subscribe({
      name,
      onError: () => park('needs a fix'),
      async handle(event, meta, { tx }) {
        if ((event.data as { poison?: boolean }).poison && !fixed) throw new TypeError(`cannot price ${meta.streamId}`);
        await tx.query(`INSERT INTO "${context}".effects (event_id, subscription, stream, version) VALUES ($1, $2, $3, $4)`, [
          meta.eventId,
          name,
          meta.streamId,
          meta.streamVersion,
        ]);
      },
    });
    await herald.start();

    await herald.append('A', [{ type: 'Priced', data: {} }, { type: 'Priced', data: { poison: true } }, { type: 'Priced', data: {} }]);
    const others = 'BCDEFGHIJKLMNOPQRSTUVWXYZ'.split('').map((letter) => `poison-${letter}`);
    for (const stream of others) await herald.append(stream, [{ type: 'Priced', data: {} }, { type: 'Priced', data: {} }]);
    await herald.append('A', { type: 'Priced', data: {} });

    const deliveredAll = async () => (await Promise.all(others.map((o) => committedVersions(name, o)))).every((v) => v.length === 2);
    await waitFor(deliveredAll, { message: 'streams B..Z delivered' });
    assert.deepEqual(await committedVersions(name, 'A'), [1], 'A stops at its poison event');
    const parked = await herald.parked.list({ subscription: name });
    assert.equal(parked.length, 1);
    const [poison] = parked;
    assert.equal(poison!.streamId, 'A');
    assert.equal(poison!.streamVersion, 2);
    assert.equal(poison!.status, 'parked');
    assert.equal(poison!.reason, 'needs a fix');
    assert.equal(poison!.error.type, 'TypeError');
    assert.match(poison!.error.message ?? '', /cannot price A/);
    assert.match(poison!.error.stack ?? '', /failures\.test\.ts/);
    assert.match(poison!.fingerprint ?? '', /^[0-9a-f]{16}$/);
    assert.equal(poison!.attempts.length, 1);
    // A's 4th event was appended after B..Z: wait until it too is queued behind the poison.
    const waiting = await parkedCount(herald, { subscription: name, status: 'waiting' }, 2);
    assert.deepEqual(waiting.map((w) => w.streamVersion), [3, 4], 'later events of A wait behind it');
    const status = await statusOf(herald, name);
    assert.equal(status.parked, 1);
    assert.equal(status.blockedStreams, 1);
    assert.match(status.lastError?.message ?? '', /cannot price A/);
    assert.equal(status.state, 'running');

    fixed = true;
    const outcome = await herald.parked.retry(name, poison!.eventNumber, { wait: true });
    assert.deepEqual(outcome, { status: 'retried', error: null });
    await waitFor(async () => (await committedVersions(name, 'A')).length === 4, { message: 'A drained' });
    assert.deepEqual(await committedVersions(name, 'A'), [1, 2, 3, 4]);
    assert.equal((await statusOf(herald, name)).blockedStreams, 0);
    await herald.append('A', { type: 'Priced', data: {} });
    await waitFor(async () => (await committedVersions(name, 'A')).length === 5, { message: 'A flows again' });

    // Skip: the stream continues without the event.
    fixed = false;
    await herald.append('S2', [{ type: 'Priced', data: {} }, { type: 'Priced', data: { poison: true } }, { type: 'Priced', data: {} }]);
    const skipNumber = await sequenced('S2', 2);
    await waitFor(async () => (await herald.parked.list({ subscription: name, streamId: 'S2' })).length === 1, { message: 'S2 parked' });
    await herald.parked.skip(name, skipNumber, 'bad price data, refunded by hand');
    await waitFor(async () => (await committedVersions(name, 'S2')).length === 2, { message: 'S2 continues' });
    assert.deepEqual(await committedVersions(name, 'S2'), [1, 3]);
    const [skipped] = await herald.parked.list({ subscription: name, status: 'skipped' });
    assert.equal(skipped?.reason, 'bad price data, refunded by hand');

    const effects = await pool.query(`SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS d FROM "${context}".effects WHERE subscription = $1`, [name]);
    assert.equal(effects.rows[0].n, effects.rows[0].d, 'no effect twice');
    for (const event of ['attemptFailed', 'eventParked', 'parkedRetried', 'eventSkipped'] as const) assert.ok(seen.includes(event), `${event} emitted`);
  });

  it('retry carries the failure context from attempt to attempt', async () => {
    const herald = make();
    const contexts: FailureContext[] = [];
    let calls = 0;
    herald.subscribe({
      name: 'context',
      startFrom: 'current',
      onError: (_error, _event, failure) => {
        contexts.push(failure);
        const tries = [...((failure.context.tries as number[]) ?? []), failure.attempt];
        return failure.attempt < 3 ? retry({ context: { tries } }) : skip(`gave up after ${tries.join(',')}`);
      },
      handle: () => {
        calls++;
        throw new Error('always');
      },
    });
    await herald.start();
    await herald.append('ctx-stream', { type: 'X', data: {} });
    await waitFor(() => contexts.length === 3, { message: 'three failures' });
    assert.deepEqual(contexts.map((c) => c.attempt), [1, 2, 3]);
    assert.deepEqual(contexts.map((c) => c.context), [{}, { tries: [1] }, { tries: [1, 2] }]);
    assert.ok(contexts.every((c) => c.firstFailedAt.getTime() === contexts[0]!.firstFailedAt.getTime()));
    assert.equal(calls, 3);
    const [row] = await parkedCount(herald, { subscription: 'context', status: 'skipped' }, 1);
    assert.equal(row?.reason, 'gave up after 1,2,3');
  });

  it('a delayed retry blocks only its stream: later events of other streams go first, then the retry, then its stream', async () => {
    const herald = make();
    const order: string[] = [];
    let failedOnce = false;
    herald.subscribe({
      name: 'delayed',
      startFrom: 'current',
      onError: () => retry({ delayMs: 400 }),
      handle: (_e, meta) => {
        if (meta.streamId === 'delayed-P' && meta.streamVersion === 1 && !failedOnce) {
          failedOnce = true;
          throw new Error('transient');
        }
        order.push(`${meta.streamId.slice(-1)}${meta.streamVersion}`);
      },
    });
    await herald.start();
    await herald.append('delayed-P', [{ type: 'X', data: {} }, { type: 'X', data: {} }]);
    await herald.append('delayed-Q', { type: 'X', data: {} });
    await waitFor(() => order.includes('Q1'), { message: 'Q delivered' });
    const [scheduled] = await herald.parked.list({ subscription: 'delayed' });
    assert.equal(scheduled?.status, 'scheduled');
    assert.ok(scheduled!.retryAt!.getTime() - scheduled!.lastFailedAt!.getTime() >= 390, 'retry scheduled after the delay');
    await herald.append('delayed-Q', { type: 'X', data: {} });
    await waitFor(() => order.length === 4, { message: 'all delivered' });
    assert.deepEqual(order, ['Q1', 'Q2', 'P1', 'P2']);
  });

  it('the default policy retries with backoff, then parks with the attempt history', async () => {
    const herald = make();
    let calls = 0;
    herald.subscribe({
      name: 'default-policy',
      startFrom: 'current',
      retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 40 },
      handle: () => {
        calls++;
        throw new RangeError('still broken');
      },
    });
    await herald.start();
    await herald.append('default-D', { type: 'X', data: {} });
    const [row] = await parkedCount(herald, { subscription: 'default-policy', status: 'parked' }, 1);
    assert.equal(calls, 3);
    assert.equal(row!.attempts.length, 3);
    assert.ok(row!.attempts.every((a) => a.type === 'RangeError' && a.message === 'still broken'));
    assert.equal(row!.reason, 'failed 3 times');
  });

  it('an event older than the age limit is parked at its first failure, not retried', async () => {
    const herald = make();
    let calls = 0;
    await herald.append('old', { type: 'X', data: {} });
    await pool.query(`UPDATE "${context}".events SET created_at = now() - interval '2 hours' WHERE stream_id = 'old'`);
    const number = await sequenced('old', 1);
    herald.subscribe({
      name: 'age-cutoff',
      startFrom: number - 1,
      retry: { maxAttempts: 10, maxEventAgeMs: 3_600_000 },
      handle: (_e, meta) => {
        if (meta.streamId === 'old') {
          calls++;
          throw new Error('fails');
        }
      },
    });
    await herald.start();
    const [row] = await parkedCount(herald, { subscription: 'age-cutoff', status: 'parked' }, 1);
    assert.equal(calls, 1);
    assert.match(row!.reason ?? '', /older than 3600000 ms/);
  });

  it('a handler that hangs past its timeout fails, and its writes roll back', async () => {
    const herald = make();
    herald.subscribe({
      name: 'hanging',
      startFrom: 'current',
      handlerTimeoutMs: 300,
      onError: (error) => park((error as Error).name),
      async handle(_e, meta, { tx }) {
        await tx.query(`INSERT INTO "${context}".effects (event_id, subscription) VALUES ($1, 'hanging')`, [meta.eventId]);
        await new Promise(() => {});
      },
    });
    await herald.start();
    await herald.append('hang', { type: 'X', data: {} });
    const [row] = await parkedCount(herald, { subscription: 'hanging' }, 1);
    assert.equal(row!.reason, 'HandlerTimeoutError');
    assert.match(row!.error.message ?? '', /did not settle within 300 ms/);
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${context}".effects WHERE subscription = 'hanging'`);
    assert.equal(rows[0].n, 0);
  });

  it("parking: 'subscription' holds every stream until the parked event is resolved", async () => {
    const herald = make();
    const order: string[] = [];
    let broken = true;
    herald.subscribe({
      name: 'total-order',
      startFrom: 'current',
      parking: 'subscription',
      onError: () => park(),
      handle: (_e, meta) => {
        if (meta.streamId === 'total-T' && broken) throw new Error('blocked');
        order.push(meta.streamId);
      },
    });
    await herald.start();
    await herald.append('total-T', { type: 'X', data: {} });
    const tNumber = await sequenced('total-T', 1);
    await waitFor(async () => (await herald.parked.list({ subscription: 'total-order' })).length === 1);
    await herald.append('total-U', { type: 'X', data: {} });
    const uNumber = await sequenced('total-U', 1);
    // U is sequenced but must not be handled while T is parked: the checkpoint stays at T.
    await waitFor(async () => (await herald.status()).head >= uNumber);
    assert.equal((await statusOf(herald, 'total-order')).position, tNumber);
    assert.deepEqual(order, []);
    broken = false;
    await herald.parked.retry('total-order', tNumber, { wait: true });
    await waitFor(() => order.length === 2, { message: 'both delivered' });
    assert.deepEqual(order, ['total-T', 'total-U']);
  });

  it('operator errors: not parked, waiting behind another, already being retried, skip without a reason', async () => {
    const herald = make();
    let broken = true;
    herald.subscribe({ name: 'operator', startFrom: 'current', onError: () => park(), handle: () => {
      if (broken) throw new Error('x');
    } });
    await herald.start();
    await herald.append('op-O', [{ type: 'X', data: {} }, { type: 'X', data: {} }]);
    const first = await sequenced('op-O', 1);
    await waitFor(async () => (await herald.parked.list({ subscription: 'operator', status: ['parked', 'waiting'] })).length === 2);
    await assert.rejects(herald.parked.retry('operator', 999_999), NotParkedError);
    await assert.rejects(herald.parked.retry('operator', first + 1), (e: unknown) => e instanceof NotParkedError && /waits behind/.test(e.message));
    await assert.rejects(herald.parked.skip('operator', first, '  '), InvalidArgumentError);
    await assert.rejects(herald.parked.list({ status: 'nonsense' as never }), InvalidArgumentError);

    // Five operators click "retry" at once: one request wins, the others are told it is in progress.
    broken = false;
    const clicks = await Promise.allSettled(Array.from({ length: 5 }, () => herald.parked.retry('operator', first)));
    assert.equal(clicks.filter((c) => c.status === 'fulfilled').length, 1);
    for (const c of clicks) if (c.status === 'rejected') assert.ok(c.reason instanceof ParkedEventBusyError, String(c.reason));
    await waitFor(async () => (await herald.parked.list({ subscription: 'operator', status: 'retried' })).length === 1);
    await assert.rejects(herald.parked.retry('operator', first), (e: unknown) => e instanceof NotParkedError && /already resolved/.test(e.message));
  });

  it('retries never race: operator retries fired during automatic retries never overlap an attempt, effects exactly once', async () => {
    const herald = make();
    const name = 'race';
    const failuresLeft = new Map<string, number>();
    const inFlight = new Set<string>();
    let overlaps = 0;
    let attempts = 0;
    herald.subscribe({
      name,
      startFrom: 'current',
      onError: () => retry({ delayMs: 15 }),
      async handle(_e, meta, { tx }) {
        attempts++;
        if (inFlight.has(meta.eventId)) overlaps++;
        inFlight.add(meta.eventId);
        try {
          await tx.query(`INSERT INTO "${context}".effects (event_id, subscription) VALUES ($1, $2)`, [meta.eventId, name]);
          await new Promise((r) => setTimeout(r, 3));
          const left = failuresLeft.get(meta.eventId) ?? 4;
          failuresLeft.set(meta.eventId, left - 1);
          if (left > 0) throw new Error('transient');
        } finally {
          inFlight.delete(meta.eventId);
        }
      },
    });
    await herald.start();
    const streams = Array.from({ length: 12 }, (_, i) => `race-${i}`);
    for (const s of streams) await herald.append(s, { type: 'X', data: {} });
    const numbers = await Promise.all(streams.map((s) => sequenced(s, 1)));

    // Hammer: while any event is unresolved, fire bursts of concurrent operator retries at every one.
    let accepted = 0;
    let refused = 0;
    await waitFor(
      async () => {
        const results = await Promise.allSettled(numbers.flatMap((n) => [herald.parked.retry(name, n), herald.parked.retry(name, n)]));
        for (const r of results) {
          if (r.status === 'fulfilled') accepted++;
          else if (r.reason instanceof ParkedEventBusyError || r.reason instanceof NotParkedError) refused++;
          else throw r.reason;
        }
        return (await statusOf(herald, name)).blockedStreams === 0 && (await statusOf(herald, name)).position >= Math.max(...numbers);
      },
      { timeoutMs: 30_000, intervalMs: 5, message: 'all events handled' },
    );
    assert.ok(accepted > 0 && refused > 0, `operator retries both accepted (${accepted}) and refused (${refused})`);
    assert.equal(overlaps, 0, 'no two attempts of one event ever overlapped');
    const { rows } = await pool.query(
      `SELECT event_id, count(*)::int AS n FROM "${context}".effects WHERE subscription = $1 GROUP BY event_id`,
      [name],
    );
    assert.equal(rows.length, streams.length);
    assert.ok(rows.every((r) => r.n === 1), 'each event’s effect committed exactly once');
  });

  it('repairs a stream whose failure was resolved just before a crash: the waiting events still follow, in order', async () => {
    const name = 'orphan-repair';
    let broken = true;
    const subscription = () => ({
      name,
      startFrom: 'current' as const,
      onError: () => park(),
      async handle(_e: unknown, meta: { eventId: string; streamId: string; streamVersion: number }, { tx }: { tx: import('pg').PoolClient }) {
        if (meta.streamId === 'orphan' && meta.streamVersion === 1 && broken) throw new Error('x');
        await tx.query(`INSERT INTO "${context}".effects (event_id, subscription, stream, version) VALUES ($1, $2, $3, $4)`, [
          meta.eventId, name, meta.streamId, meta.streamVersion,
        ]);
      },
    });
    const first = make().subscribe(subscription());
    await first.start();
    await first.append('orphan', [{ type: 'X', data: {} }, { type: 'X', data: {} }, { type: 'X', data: {} }]);
    await waitFor(async () => (await first.parked.list({ subscription: name, status: ['parked', 'waiting'] })).length === 3);
    await first.stop();
    // The crash window: the head's retry committed, the process died before releasing its stream.
    broken = false;
    await pool.query(`UPDATE "${context}".parked_events SET status = 'retried' WHERE subscription = $1 AND status = 'parked'`, [name]);
    await pool.query(`INSERT INTO "${context}".effects (event_id, subscription, stream, version) VALUES (gen_random_uuid(), $1, 'orphan', 1)`, [name]);
    const second = make().subscribe(subscription());
    await second.start();
    await waitFor(async () => (await committedVersions(name, 'orphan')).length === 3, { message: 'waiting events replayed' });
    assert.deepEqual(await committedVersions(name, 'orphan'), [1, 2, 3]);
    assert.equal((await statusOf(second, name)).blockedStreams, 0);
  });

  it('a handler that swallows an SQL error fails its own event instead of stalling the subscription', async () => {
    const herald = make();
    herald.subscribe({
      name: 'swallowed',
      startFrom: 'current',
      onError: (error) => park((error as Error).message),
      async handle(_e, meta, { tx }) {
        if (meta.streamId === 'swallow-bad') {
          try {
            await tx.query('SELECT * FROM no_such_table');
          } catch {
            // went on after an error: the transaction is aborted
          }
        }
        await tx.query('SELECT 1').catch(() => {});
      },
    });
    await herald.start();
    await herald.append('swallow-ok-1', { type: 'X', data: {} });
    await herald.append('swallow-bad', { type: 'X', data: {} });
    await herald.append('swallow-ok-2', { type: 'X', data: {} });
    const last = await sequenced('swallow-ok-2', 1);
    await waitFor(async () => (await statusOf(herald, 'swallowed')).position >= last, { message: 'subscription went past it' });
    const parked = await herald.parked.list({ subscription: 'swallowed' });
    assert.deepEqual(parked.map((p) => p.streamId), ['swallow-bad']);
    assert.match(parked[0]!.reason ?? '', /went on after an SQL error/);
  });

  it('a strong append does not count a parked event as handled', async () => {
    const herald = make();
    herald.subscribe({ name: 'strong-parking', consistency: 'strong', startFrom: 'current', onError: () => park(), handle: () => {
      throw new Error('never works');
    } });
    await herald.start();
    await assert.rejects(herald.append('strong-parked', { type: 'X', data: {} }, { consistency: 'strong', consistencyTimeoutMs: 600 }), (e: unknown) =>
      e instanceof Error && /strong-parking/.test(e.message));
    await herald.stop();
    await pool.query(`UPDATE "${context}".subscriptions SET state = 'stopped' WHERE name = 'strong-parking'`);
  });
});
