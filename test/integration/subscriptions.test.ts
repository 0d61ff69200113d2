import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import {
  ALREADY_SEEN,
  ConfigError,
  createHerald,
  DuplicateSubscriptionError,
  type Herald,
  type HeraldOptions,
  InvalidIdentifierError,
  park,
  stop,
  SubscriptionInitError,
} from '../../src/index.js';
import { createPool, dropContext, uniqueContext, waitFor } from '../helpers/db.js';

describe('subscriptions', () => {
  const pool = createPool(20);
  let context: string;
  const started: Herald[] = [];

  const make = (options: Partial<HeraldOptions> = {}) => {
    const herald = createHerald({ pool, context, leaseTtlMs: 1000, pollMs: 100, ...options });
    started.push(herald);
    return herald;
  };
  const appendN = async (herald: Herald, n: number, stream = 'stream-a') => {
    for (let i = 0; i < n; i++) await herald.append(stream, { type: 'Tick', data: { i } });
  };
  /** The head once every committed event is sequenced. */
  const sequencedHead = async (herald: Herald) => {
    await herald.start();
    return (await waitFor(async () => {
      const st = await herald.status();
      return st.unsequenced === 0 ? st : undefined;
    })).head;
  };
  const statusOf = async (herald: Herald, name: string) => (await herald.status()).subscriptions.find((s) => s.name === name);

  before(async () => {
    context = uniqueContext('sub');
    await make().migrate();
    await pool.query(`CREATE TABLE "${context}".effects (event_id uuid, subscription text)`);
  });
  after(async () => {
    await Promise.all(started.map((h) => h.stop()));
    await dropContext(pool, context);
    await pool.end();
  });

  it('delivers every event with its metadata, from the origin, catch-up then live', async () => {
    const writer = make();
    await appendN(writer, 3, 'origin-stream');
    const seen: { type: string; n: number; stream: string; version: number }[] = [];
    const reader = make().subscribe({
      name: 'origin',
      handle: (event, meta) => void seen.push({ type: event.type, n: meta.eventNumber, stream: meta.streamId, version: meta.streamVersion }),
    });
    await reader.start();
    await waitFor(() => seen.length === 3, { message: 'catch-up' });
    await appendN(writer, 2, 'origin-stream');
    await waitFor(() => seen.length === 5, { message: 'live events' });
    assert.deepEqual(
      seen.map((s) => s.version),
      [1, 2, 3, 4, 5],
    );
    assert.ok(seen.every((s, i) => i === 0 || s.n === seen[i - 1]!.n + 1), 'event numbers are consecutive');
    await reader.stop();
  });

  it('startFrom current skips what is already there; a number starts after it; a start override wins', async () => {
    const writer = make();
    await appendN(writer, 2, 'start-stream');
    const head = await sequencedHead(writer);
    const current: number[] = [];
    const fromNumber: number[] = [];
    const overridden: number[] = [];
    const reader = make()
      .subscribe({ name: 'from-current', startFrom: 'current', handle: (_e, m) => void current.push(m.eventNumber) })
      .subscribe({ name: 'from-number', startFrom: head - 1, handle: (_e, m) => void fromNumber.push(m.eventNumber) })
      .subscribe({ name: 'overridden', startFrom: 'origin', handle: (_e, m) => void overridden.push(m.eventNumber) });
    await reader.start({ startFrom: { overridden: 'current' } });
    await appendN(writer, 1, 'start-stream');
    await waitFor(() => current.length === 1 && overridden.length === 1 && fromNumber.length === 2, { message: 'deliveries' });
    assert.deepEqual(current, [head + 1]);
    assert.deepEqual(overridden, [head + 1]);
    assert.deepEqual(fromNumber, [head, head + 1]);
    await reader.stop();
  });

  it('the stored checkpoint wins over startFrom after a restart', async () => {
    const writer = make();
    await appendN(writer, 2, 'restart-stream');
    const first: number[] = [];
    const a = make().subscribe({ name: 'restart', handle: (_e, m) => void first.push(m.eventNumber) });
    await a.start();
    const head = (await a.status()).head;
    await waitFor(async () => (await statusOf(a, 'restart'))?.position === head, { message: 'first run caught up' });
    await a.stop();
    await appendN(writer, 1, 'restart-stream');
    const second: number[] = [];
    const b = make().subscribe({ name: 'restart', startFrom: 'origin', handle: (_e, m) => void second.push(m.eventNumber) });
    await b.start();
    await waitFor(() => second.length === 1, { message: 'only the new event' });
    assert.deepEqual(second, [head + 1]);
    await b.stop();
  });

  it('init runs before the first event; if it fails, the subscription does not start and says why', async () => {
    const calls: string[] = [];
    const ok = make().subscribe({
      name: 'init-ok',
      init: async () => void calls.push('init'),
      handle: () => void calls.push('event'),
    });
    await appendN(ok, 1, 'init-stream');
    await ok.start();
    await waitFor(() => calls.includes('event'), { message: 'event after init' });
    assert.equal(calls[0], 'init');
    await ok.stop();

    let handled = 0;
    const bad = make().subscribe({
      name: 'init-bad',
      init: () => {
        throw new Error('projection table missing');
      },
      handle: () => void handled++,
    });
    await assert.rejects(bad.start(), (err: unknown) => {
      assert.ok(err instanceof SubscriptionInitError);
      assert.equal(err.subscription, 'init-bad');
      assert.match(err.message, /projection table missing/);
      return true;
    });
    const status = await statusOf(bad, 'init-bad');
    assert.equal(status?.state, 'failed');
    assert.match(status?.reason ?? '', /init\(\) failed: projection table missing/);
    assert.equal(status?.leaseOwner, null);
    assert.equal(handled, 0);
  });

  it('handler writes and the checkpoint commit together: effects exactly once across restarts', async () => {
    const writer = make();
    await appendN(writer, 30, 'effects-stream');
    const effectHandler = (name: string) => ({
      name,
      batchSize: 7,
      async handle(_e: unknown, meta: { eventId: string }, ctx: { tx: pg.PoolClient }) {
        await ctx.tx.query(`INSERT INTO "${context}".effects VALUES ($1, $2)`, [meta.eventId, name]);
      },
    });
    const a = make().subscribe(effectHandler('effects'));
    await a.start();
    await waitFor(async () => ((await statusOf(a, 'effects'))?.position ?? 0) > 0, { message: 'some progress' });
    await a.stop();
    const b = make().subscribe(effectHandler('effects'));
    await b.start();
    const head = (await b.status()).head;
    await waitFor(async () => (await statusOf(b, 'effects'))?.position === head, { message: 'caught up' });
    await b.stop();
    const { rows } = await pool.query(
      `SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS d FROM "${context}".effects WHERE subscription = 'effects'`,
    );
    assert.deepEqual(rows[0], { n: head, d: head });
  });

  it('"already seen" counts the event as handled, reported as such, and loses nothing else of its batch', async () => {
    const writer = make();
    await appendN(writer, 4, 'seen-stream');
    const reader = make();
    const seen: number[] = [];
    reader.on('eventAlreadySeen', ({ subscription, event }) => subscription === 'already-seen' && seen.push(event.metadata.streamVersion));
    reader.subscribe({
      name: 'already-seen',
      batchSize: 100,
      async handle(_e, meta, { tx }) {
        if (meta.streamId !== 'seen-stream') return;
        if (meta.streamVersion % 2 === 1) return ALREADY_SEEN;
        await tx.query(`INSERT INTO "${context}".effects VALUES ($1, 'already-seen')`, [meta.eventId]);
      },
    });
    await reader.start();
    const head = (await reader.status()).head;
    await waitFor(async () => (await statusOf(reader, 'already-seen'))?.position === head, { message: 'checkpoint at head' });
    assert.deepEqual(seen, [1, 3], 'exactly the events whose handler said ALREADY_SEEN are reported');
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${context}".effects WHERE subscription = 'already-seen'`);
    assert.equal(rows[0].n, 2, 'the other events of the same batch committed their writes');
    await reader.stop();
  });

  it('a handler that returns a value instead of throwing fails with HandlerResultError', async () => {
    const writer = make();
    await appendN(writer, 1, 'returns-stream');
    const reader = make().subscribe({
      name: 'returns',
      onError: () => park('returned a value'),
      handle: (_e, meta) => (meta.streamId === 'returns-stream' ? (new Error('returned, not thrown') as never) : undefined),
    });
    await reader.start();
    const [parked] = await waitFor(async () => {
      const list = await reader.parked.list({ subscription: 'returns' });
      return list.length === 1 ? list : undefined;
    }, { message: 'parked' });
    assert.equal(parked!.error.type, 'HandlerResultError');
    assert.match(parked!.error.message ?? '', /Handler returned an Error \(Error: returned, not thrown\)/);
    await reader.stop();
  });

  it('a handler past its timeout has its signal aborted and its connection closed', async () => {
    const writer = make();
    await appendN(writer, 1, 'slow-stream');
    let aborted: unknown;
    let backend: number | undefined;
    const reader = make().subscribe({
      name: 'aborted',
      handlerTimeoutMs: 200,
      onError: () => park('too slow'),
      async handle(_e, meta, { tx, signal }) {
        if (meta.streamId !== 'slow-stream') return;
        backend = (await tx.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
        aborted = signal.reason;
      },
    });
    await reader.start();
    await waitFor(() => aborted, { message: 'signal aborted' });
    assert.equal((aborted as Error).name, 'HandlerTimeoutError');
    await waitFor(async () => (await pool.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [backend])).rows[0].n === 0, { message: 'its connection closed' });
    await waitFor(async () => (await reader.parked.list({ subscription: 'aborted' })).length === 1, { message: 'parked' });
    await reader.stop();
  });

  it('a handler failing with a stop policy stops its subscription with the reason; events before it stay handled', async () => {
    const writer = make();
    await appendN(writer, 5, 'fail-stream');
    await sequencedHead(writer);
    const { rows } = await pool.query(`SELECT p.event_number::int AS n FROM "${context}".events e JOIN "${context}".positions p ON p.id = e.id
        WHERE e.stream_id = 'fail-stream' AND e.stream_version = 3`);
    const poison: number = rows[0].n;
    const reader = make().subscribe({
      name: 'failing',
      batchSize: 100,
      onError: (error) => stop(`gave up: ${(error as Error).message}`),
      async handle(_e, meta, ctx) {
        await ctx.tx.query(`INSERT INTO "${context}".effects VALUES ($1, 'failing')`, [meta.eventId]);
        if (meta.streamId === 'fail-stream' && meta.streamVersion === 3) throw new Error('boom on version 3');
      },
    });
    await reader.start();
    await waitFor(async () => (await statusOf(reader, 'failing'))?.state === 'failed', { message: 'failed state' });
    const status = await statusOf(reader, 'failing');
    assert.match(status?.reason ?? '', /gave up: boom on version 3/);
    assert.equal(status?.position, poison - 1, 'checkpoint just before the failing event');
    const effects = await pool.query(`SELECT count(*)::int AS n FROM "${context}".effects WHERE subscription = 'failing'`);
    assert.equal(effects.rows[0].n, poison - 1, 'effects of the events before it committed once, the failing one rolled back');
  });

  it('an operator restarts a subscription its policy stopped, through the database from another Herald; it goes on from its checkpoint', async () => {
    const writer = make();
    await appendN(writer, 3, 'operator-restart');
    let broken = true;
    const handled: number[] = [];
    const reader = make();
    reader.subscribe({
      name: 'restartable',
      onError: () => stop('broken dependency'),
      handle(_e, meta) {
        if (meta.streamId !== 'operator-restart') return;
        if (broken && meta.streamVersion === 2) throw new Error('dependency down');
        handled.push(meta.streamVersion);
      },
    });
    await reader.start();
    await waitFor(async () => (await statusOf(reader, 'restartable'))?.state === 'failed', { message: 'stopped by its policy' });
    const operator = make();
    await assert.rejects(operator.subscriptions.restart('nope'), /No subscription named 'nope'/);
    broken = false;
    await operator.subscriptions.restart('restartable');
    const head = (await reader.status()).head;
    await waitFor(async () => (await statusOf(reader, 'restartable'))?.position === head, { message: 'restarted and caught up' });
    // Event 1 ran twice in memory (once in the batch that failed, once on its own), committed once.
    assert.deepEqual(handled, [1, 1, 2, 3]);
    assert.equal((await statusOf(reader, 'restartable'))?.state, 'running');
    await assert.rejects(operator.subscriptions.restart('restartable'), /is running, not failed/);
    await reader.stop();
  });

  it('a restart policy restarts a stopped subscription with backoff, like a supervisor; status says so', async () => {
    const writer = make();
    await appendN(writer, 2, 'supervised');
    let failuresLeft = 2;
    const reader = make();
    reader.subscribe({
      name: 'supervised',
      onError: () => stop('dependency down'),
      restart: { delayMs: 150, maxDelayMs: 1000 },
      handle(_e, meta) {
        if (meta.streamId === 'supervised' && meta.streamVersion === 2 && failuresLeft-- > 0) throw new Error('dependency down');
      },
    });
    await reader.start();
    const failed = await waitFor(async () => {
      const st = await statusOf(reader, 'supervised');
      return st?.state === 'failed' && st.restartAt ? st : undefined;
    }, { message: 'failed, with a restart scheduled' });
    assert.equal(failed.restarts, 1);
    assert.match(failed.reason ?? '', /dependency down/);
    const head = (await reader.status()).head;
    const recovered = await waitFor(async () => {
      const st = await statusOf(reader, 'supervised');
      return st?.position === head ? st : undefined;
    }, { message: 'restarted twice, then through' });
    assert.equal(recovered.state, 'running');
    assert.equal(recovered.restarts, 0, 'progress resets the count');
    assert.equal(recovered.restartAt, null);
    await reader.stop();
  });

  it('after maxRestarts a stopped subscription stays failed for an operator', async () => {
    const writer = make();
    await appendN(writer, 1, 'gives-up');
    const reader = make();
    reader.subscribe({
      name: 'gives-up',
      onError: () => stop('always down'),
      restart: { delayMs: 50, maxRestarts: 1 },
      handle(_e, meta) {
        if (meta.streamId === 'gives-up') throw new Error('always down');
      },
    });
    await reader.start();
    const st = await waitFor(async () => {
      const s = await statusOf(reader, 'gives-up');
      return s?.state === 'failed' && s.restarts === 1 && s.restartAt === null ? s : undefined;
    }, { message: 'failed for good after one restart' });
    assert.match(st.reason ?? '', /always down/);
    await reader.stop();
  });

  it('graceful stop finishes the batch in hand and hands the lease to a standby at once', async () => {
    const writer = make();
    const name = 'handover';
    await appendN(writer, 40, 'handover-stream');
    const head = await sequencedHead(writer);
    const seenBy = { a: 0, b: 0 };
    let firstEventStarted!: () => void;
    const aBusy = new Promise<void>((resolve) => (firstEventStarted = resolve));
    let releaseA!: () => void;
    const aGate = new Promise<void>((resolve) => (releaseA = resolve));
    const a = make({ processId: 'proc-a' }).subscribe({
      name,
      batchSize: 20,
      handle: async () => {
        if (++seenBy.a === 1) {
          firstEventStarted();
          await aGate;
        }
      },
    });
    const b = make({ processId: 'proc-b' }).subscribe({ name, batchSize: 20, handle: () => void seenBy.b++ });
    await a.start();
    await b.start();
    await aBusy; // a is inside its first batch
    assert.equal((await statusOf(a, name))?.leaseOwner, 'proc-a');
    const stopping = a.stop();
    releaseA();
    await stopping;
    assert.equal(seenBy.a, 20, 'a finished the batch in hand, and no more');
    await waitFor(async () => (await statusOf(b, name))?.position === head, { message: 'b takes over and finishes' });
    assert.equal((await statusOf(b, name))?.leaseOwner, 'proc-b');
    assert.equal(seenBy.b, head - 20, 'b handled the rest, once each');
    await b.stop();
    assert.equal((await statusOf(b, name))?.state, 'stopped');
  });

  it('handlers that write nothing have their checkpoint written every checkpointAfterMs and at stop; a batch that writes moves it at once', async () => {
    const writer = make();
    await pool.query(`CREATE TABLE "${context}".touched (n int)`);
    await appendN(writer, 5, 'deferred-stream');
    const head = await sequencedHead(writer);
    const handled: number[] = [];
    const reader = make({ processId: 'deferred' }).subscribe({
      name: 'deferred',
      checkpointAfterMs: 60_000,
      handle: async (event, meta, ctx) => {
        handled.push(meta.eventNumber);
        if ((event.data as { write?: boolean }).write) await ctx.tx.query(`INSERT INTO "${context}".touched VALUES ($1)`, [meta.eventNumber]);
      },
    });
    await reader.start();
    await waitFor(() => handled.length === head, { message: 'all handled' });
    assert.equal((await statusOf(reader, 'deferred'))?.position, 0, 'nothing written yet: no transaction was opened');
    await writer.append('deferred-stream', { type: 'Tick', data: { write: true } });
    await waitFor(async () => (await statusOf(reader, 'deferred'))?.position === head + 1, { message: 'a batch that wrote moves the checkpoint in its transaction' });
    await appendN(writer, 2, 'deferred-stream');
    await waitFor(() => handled.length === head + 3, { message: 'two more handled' });
    assert.equal((await statusOf(reader, 'deferred'))?.position, head + 1);
    await reader.stop();
    assert.equal((await statusOf(writer, 'deferred'))?.position, head + 3, 'stop writes the deferred checkpoint');
    assert.deepEqual(handled, Array.from({ length: head + 3 }, (_, i) => i + 1), 'each once, in order');
  });

  it('status reports position, lag, state and lease holder', async () => {
    const writer = make();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const reader = make({ processId: 'status-proc' }).subscribe({ name: 'status', startFrom: 'current', batchSize: 1, handle: () => gate });
    await reader.start();
    await appendN(writer, 3, 'status-stream');
    const s = await waitFor(async () => {
      const st = await reader.status();
      const sub = st.subscriptions.find((x) => x.name === 'status');
      return sub && st.head - sub.position === 3 ? sub : undefined;
    });
    assert.equal(s.state, 'running');
    assert.equal(s.lag, 3);
    assert.equal(s.leaseOwner, 'status-proc');
    assert.ok(s.leaseExpiresAt instanceof Date);
    release();
    await waitFor(async () => (await statusOf(reader, 'status'))?.lag === 0, { message: 'lag 0' });
    await reader.stop();
  });

  it('rejects bad definitions with typed errors', () => {
    const herald = make();
    assert.throws(() => herald.subscribe({ name: 'bad name!', handle: () => {} }), InvalidIdentifierError);
    assert.throws(() => herald.subscribe({ name: 'x', startFrom: -1, handle: () => {} }), ConfigError);
    assert.throws(() => herald.subscribe({ name: 'x', handle: 'nope' as never }), ConfigError);
    herald.subscribe({ name: 'twice', handle: () => {} });
    assert.throws(() => herald.subscribe({ name: 'twice', handle: () => {} }), DuplicateSubscriptionError);
    assert.throws(() => createHerald({ pool, context: 'Robert"); DROP' }), InvalidIdentifierError);
  });

  it('start refuses an unmigrated context with a clear error', async () => {
    await assert.rejects(createHerald({ pool, context: uniqueContext('nomig') }).start(), /call herald.migrate\(\) first/);
  });
});
