/**
 * Sagas on a real log: an order saga with compensation, timeouts that survive a restart,
 * unmatched events, the instance row lock, and two processes sharing the work (one killed -9).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { createHerald, type Herald } from '../../src/index.js';
import { registerSaga, type SagaDefinition, TIMEOUT_EVENT } from '../../src/sagas/index.js';
import { transaction } from '../../src/sql/transaction.js';
import { createPool, dropContext, uniqueContext, waitFor } from '../helpers/db.js';
import { startFixture } from '../helpers/processes.js';

type OrderState = { orderId: string; total: number; stage: string };
const orderSaga: SagaDefinition<OrderState> = {
  name: 'order-fulfilment',
  initialState: () => ({ orderId: '', total: 0, stage: 'new' }),
  on: {
    OrderPlaced: {
      starts: true,
      key: (e) => (e.data as { orderId: string }).orderId,
      async handle(state, event, ctx) {
        const { orderId, total } = event.data as { orderId: string; total: number };
        await ctx.append(`inventory-commands`, { type: 'ReserveStock', data: { orderId } }, {});
        ctx.schedule('payment-deadline', { ms: 60_000 });
        return { orderId, total, stage: 'reserving' };
      },
    },
    StockReserved: {
      key: (e) => (e.data as { orderId: string }).orderId,
      async handle(state, _event, ctx) {
        ctx.done('reserve');
        await ctx.append('payment-commands', { type: 'TakePayment', data: { orderId: state.orderId, amount: state.total } });
        return { ...state, stage: 'paying' };
      },
    },
    PaymentTaken: {
      key: (e) => (e.data as { orderId: string }).orderId,
      async handle(state, _event, ctx) {
        await ctx.append('shipping-commands', { type: 'Ship', data: { orderId: state.orderId } });
        ctx.complete();
        return { ...state, stage: 'shipped' };
      },
    },
    PaymentFailed: {
      key: (e) => (e.data as { orderId: string }).orderId,
      async handle(state, event, ctx) {
        await ctx.compensate(`payment failed: ${(event.data as { why: string }).why}`);
        return { ...state, stage: 'cancelled' };
      },
    },
  },
  compensations: {
    async reserve(state, ctx) {
      await ctx.append('inventory-commands', { type: 'ReleaseStock', data: { orderId: state.orderId } });
      await ctx.append(`order-${state.orderId}`, { type: 'OrderCancelled', data: { orderId: state.orderId } });
    },
  },
};

describe('sagas', () => {
  const pool = createPool(12);
  const context = uniqueContext('saga');
  const started: Herald[] = [];
  const make = () => {
    const herald = createHerald({ pool, context, pollMs: 50, leaseTtlMs: 1000 });
    started.push(herald);
    return herald;
  };
  const types = async (stream: string) => (await started[0]!.readStream(stream)).map((e) => e.type);
  before(async () => {
    await createHerald({ pool, context }).migrate();
  });
  after(async () => {
    for (const h of started) await h.stop();
    await dropContext(pool, context);
    await pool.end();
  });

  it('an order saga: commands through the log in step, completion, and compensation on a payment failure', async () => {
    const herald = make();
    const { inspect } = registerSaga(herald, orderSaga);
    await herald.start();
    for (const [id, total] of [['o1', 10], ['o2', 20]] as const) await herald.append(`order-${id}`, { type: 'OrderPlaced', data: { orderId: id, total } });
    await waitFor(async () => (await types('inventory-commands')).length === 2, { message: 'two reservations asked' });
    const o1 = await inspect.get('order-fulfilment', 'o1');
    assert.equal(o1?.status, 'active');
    assert.deepEqual(o1?.timeouts.map((t) => t.name), ['payment-deadline']);
    await herald.append('inventory', [{ type: 'StockReserved', data: { orderId: 'o1' } }, { type: 'StockReserved', data: { orderId: 'o2' } }]);
    await herald.append('payments', [{ type: 'PaymentTaken', data: { orderId: 'o1' } }, { type: 'PaymentFailed', data: { orderId: 'o2', why: 'card declined' } }]);
    await waitFor(async () => (await inspect.list('order-fulfilment', { status: 'active' })).length === 0, { message: 'both finished' });
    const [first, second] = await inspect.list('order-fulfilment');
    assert.deepEqual([first!.status, (first!.state as OrderState).stage, first!.timeouts.length], ['completed', 'shipped', 0]);
    assert.deepEqual([second!.status, second!.reason, (second!.state as OrderState).stage], ['compensated', 'payment failed: card declined', 'cancelled']);
    assert.deepEqual(await types('inventory-commands'), ['ReserveStock', 'ReserveStock', 'ReleaseStock']);
    assert.deepEqual(await types('payment-commands'), ['TakePayment', 'TakePayment']);
    assert.deepEqual(await types('shipping-commands'), ['Ship']);
    assert.deepEqual(await types('order-o2'), ['OrderPlaced', 'OrderCancelled']);
    const [placed] = await herald.readStream('order-o2');
    const failed = (await herald.readStream('payments')).find((e) => e.type === 'PaymentFailed');
    const commands = await herald.readStream('inventory-commands');
    assert.deepEqual([commands[1]!.metadata.causationId, commands[1]!.metadata.correlationId], [placed!.metadata.eventId, placed!.metadata.eventId], 'caused by OrderPlaced');
    assert.equal(commands[2]!.metadata.causationId, failed!.metadata.eventId, 'the compensation was caused by PaymentFailed');
    // A late event for a finished instance, and one for an instance never started, are visible.
    await herald.append('payments', { type: 'PaymentTaken', data: { orderId: 'o2' } });
    await herald.append('inventory', { type: 'StockReserved', data: { orderId: 'nobody' } });
    const unmatched = await waitFor(async () => {
      const rows = await inspect.unmatched('order-fulfilment');
      return rows.length === 2 ? rows : undefined;
    }, { message: 'two unmatched events recorded' });
    assert.deepEqual(unmatched.map((u) => [u.key, u.reason]).sort(), [['nobody', 'no instance'], ['o2', 'instance is compensated']]);
    await herald.stop();
  });

  it('the CLI lists sagas and shows an instance with its state', async () => {
    const cli = (...args: string[]) =>
      new Promise<{ code: number; stdout: string }>((resolve) => {
        execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args, '--context', context, '--json'], { env: process.env }, (error, stdout) =>
          resolve({ code: (error as { code?: number } | null)?.code ?? 0, stdout }),
        );
      });
    const summary = await cli('sagas');
    assert.equal(summary.code, 0);
    assert.deepEqual(JSON.parse(summary.stdout).find((s: { saga: string }) => s.saga === 'order-fulfilment'), { saga: 'order-fulfilment', active: 0, completed: 1, compensated: 1, timeouts: 0, unmatched: 2 });
    const shown = JSON.parse((await cli('sagas', 'show', 'order-fulfilment', 'o1')).stdout);
    assert.deepEqual([shown.status, shown.state.stage, shown.steps], ['completed', 'shipped', ['reserve']]);
    assert.equal((await cli('sagas', 'show', 'order-fulfilment', 'nope')).code, 5);
  });

  it("unmatched: 'park' sends an event with no instance to the parked events at once", async () => {
    const herald = make();
    registerSaga(herald, { ...orderSaga, name: 'strict-orders', unmatched: 'park', subscription: { startFrom: 'current' } });
    await herald.start();
    await herald.append('inventory', { type: 'StockReserved', data: { orderId: 'ghost' } });
    const [parked] = await waitFor(async () => {
      const rows = await herald.parked.list({ subscription: 'saga:strict-orders' });
      return rows.length === 1 ? rows : undefined;
    }, { message: 'parked' });
    assert.equal(parked!.error.type, 'SagaUnmatchedError');
    assert.match(parked!.reason ?? '', /StockReserved for 'ghost' has nowhere to go \(no instance\)/);
    assert.equal(parked!.attempts.length, 1, 'not retried');
    await herald.stop();
  });

  it('a timeout survives a restart and fires once, in order with the instance', async () => {
    const saga: SagaDefinition<{ reminded: number }> = {
      name: 'reminder',
      initialState: () => ({ reminded: 0 }),
      on: { Signup: { starts: true, key: (e) => (e.data as { user: string }).user, handle: (s, _e, ctx) => void ctx.schedule('nudge', { ms: 400 }, { note: 'welcome' }) } },
      timeouts: {
        async nudge(state, data, ctx) {
          await ctx.append(`mail-${ctx.key}`, { type: 'NudgeSent', data });
          ctx.complete();
          return { reminded: state.reminded + 1 };
        },
      },
    };
    const first = make();
    registerSaga(first, saga, { timeoutPollMs: 20 });
    await first.start();
    await first.append('signups', { type: 'Signup', data: { user: 'ann' } });
    const { rows } = await waitFor(async () => {
      const r = await pool.query(`SELECT due_at FROM "${context}".saga_timeouts WHERE saga = 'reminder'`);
      return r.rows.length === 1 ? r : undefined;
    }, { message: 'the timeout is stored' });
    await first.stop(); // the process goes away before it is due
    await waitFor(() => Date.now() > new Date(rows[0].due_at).getTime() + 100, { message: 'due' });
    assert.deepEqual(await types('mail-ann'), [], 'nothing fired while no process ran');
    const second = make();
    const { inspect } = registerSaga(second, saga, { timeoutPollMs: 20 });
    await second.start();
    await waitFor(async () => (await types('mail-ann')).length === 1, { message: 'fired after the restart' });
    const instance = await waitFor(async () => {
      const i = await inspect.get('reminder', 'ann');
      return i?.status === 'completed' ? i : undefined;
    }, { message: 'completed' });
    assert.deepEqual(instance.state, { reminded: 1 });
    assert.equal((await second.readStream('saga-timeouts:reminder')).filter((e) => e.type === TIMEOUT_EVENT).length, 1);
    assert.deepEqual((await second.readStream('mail-ann'))[0]!.data, { note: 'welcome' });
    await second.stop();
  });

  it('one instance is never processed by two transactions at once (its row lock)', async () => {
    const herald = make();
    const log: string[] = [];
    const { saga } = registerSaga<{ n: number }>(herald, {
      name: 'locking',
      initialState: () => ({ n: 0 }),
      on: {
        Tick: {
          starts: true,
          key: () => 'only',
          async handle(state, event) {
            log.push(`start ${event.metadata.eventId}`);
            await new Promise((resolve) => setTimeout(resolve, 50));
            log.push(`end ${event.metadata.eventId}`);
            return { n: state.n + 1 };
          },
        },
      },
    });
    const tick = (id: string) => ({ type: 'Tick', data: {}, metadata: { eventId: id, eventNumber: 0, streamId: 's', correlationId: null } });
    await Promise.all(['a', 'b', 'c'].map((id) => transaction(pool, ({ client }) => saga.process(tick(id), client))));
    for (let i = 0; i < log.length; i += 2) assert.equal(log[i]!.replace('start', 'end'), log[i + 1], `no overlap: ${log.join(', ')}`);
    const { rows } = await pool.query(`SELECT state FROM "${context}".saga_instances WHERE saga = 'locking'`);
    assert.deepEqual(rows[0].state, { n: 3 });
  });

  it('two processes share a saga; one is killed -9; every timeout fires and is handled exactly once, never two at once per instance', async () => {
    await pool.query(`CREATE TABLE "${context}".runs (key text, name text, worker int, started_at timestamptz, ended_at timestamptz, PRIMARY KEY (key, name))`);
    const workers = [startFixture('saga-worker', { context, holdMs: 15 }), startFixture('saga-worker', { context, holdMs: 15 })];
    try {
      await Promise.all(workers.map((w) => w.waitForLine((l) => l === 'ready')));
      const writer = make();
      for (let i = 0; i < 20; i++) await writer.append(`reminder-${i}`, { type: 'ReminderSet', data: { key: `k${i}` } });
      await waitFor(async () => (await pool.query(`SELECT count(*)::int AS n FROM "${context}".runs`)).rows[0].n >= 15, { timeoutMs: 30_000, message: 'a quarter fired' });
      const { rows: holder } = await pool.query(`SELECT lease_owner FROM "${context}".subscriptions WHERE name = 'saga:reminders'`);
      const victim = workers.find((w) => String(holder[0].lease_owner).includes(`:${w.child.pid}:`)) ?? workers[0]!;
      await victim.kill('SIGKILL');
      await waitFor(async () => (await pool.query(`SELECT count(*)::int AS n FROM "${context}".saga_instances WHERE saga = 'reminders' AND status = 'completed'`)).rows[0].n === 20, { timeoutMs: 60_000, message: 'all 20 completed after the takeover' });
      const { rows } = await pool.query(`SELECT key, name, started_at, ended_at FROM "${context}".runs ORDER BY key, started_at`);
      assert.equal(rows.length, 60, 'each of the 3 × 20 timeouts handled exactly once (the primary key refuses a second)');
      for (let i = 1; i < rows.length; i++) {
        if (rows[i].key === rows[i - 1].key) assert.ok(rows[i].started_at >= rows[i - 1].ended_at, `runs of ${rows[i].key} overlap`);
      }
      const fired = (await writer.readStream('saga-timeouts:reminders')).length;
      assert.equal(fired, 60, 'each timeout fired once');
    } finally {
      for (const w of workers) await w.kill('SIGTERM');
    }
  });
});
