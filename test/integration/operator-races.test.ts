/**
 * Operator requests racing the subscription runner: what a retry or skip reports must be what the
 * row was when the request was decided, whatever the runner does a moment later.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import { createHerald, NotParkedError, ParkedEventBusyError, ParkedEvents, type ParkedStatus } from '../../src/index.js';
import { createPool, dropContext, uniqueContext, waitFor } from '../helpers/db.js';

describe('operator requests racing the runner', () => {
  const pool = createPool(4);
  const context = uniqueContext('oprace');
  const subscription = 'racer';
  let nextNumber = 0;

  before(async () => {
    await createHerald({ pool, context }).migrate();
  });
  after(async () => {
    await dropContext(pool, context);
    await pool.end();
  });

  /** A parked_events row in `status`, as the runner would have left it; resolves to its event number. */
  const insertRow = async (status: ParkedStatus): Promise<number> => {
    const eventNumber = ++nextNumber;
    await pool.query(
      `INSERT INTO "${context}".parked_events (subscription, event_number, event_id, stream_id, stream_version, event_type, status)
       VALUES ($1, $2, $3, $4, 1, 'Raced', $5)`,
      [subscription, eventNumber, randomUUID(), `stream-${eventNumber}`, status],
    );
    return eventNumber;
  };
  const setStatus = (eventNumber: number, status: ParkedStatus) =>
    pool.query(`UPDATE "${context}".parked_events SET status = $3 WHERE subscription = $1 AND event_number = $2`, [
      subscription,
      eventNumber,
      status,
    ]);
  const statusOf = async (eventNumber: number) =>
    (await pool.query(`SELECT status FROM "${context}".parked_events WHERE subscription = $1 AND event_number = $2`, [subscription, eventNumber]))
      .rows[0]?.status as ParkedStatus | undefined;

  /**
   * The operator API on a pool that lets the runner act right after the first statement returns:
   * if the request takes more than one statement, the second one sees the runner's change.
   */
  const racingOperator = (runnerActs: () => Promise<unknown>) => {
    let fired = false;
    const racing = {
      async query(...args: Parameters<pg.Pool['query']>) {
        const result = await (pool.query as (...a: unknown[]) => Promise<unknown>)(...args);
        if (!fired) {
          fired = true;
          await runnerActs();
        }
        return result;
      },
    };
    return new ParkedEvents(racing as unknown as pg.Pool, `"${context}"`, `herald_${context}`);
  };

  it('an event being retried is busy, even if its attempt fails and parks it again just after', async () => {
    const eventNumber = await insertRow('retrying');
    const operator = racingOperator(() => setStatus(eventNumber, 'parked'));
    await assert.rejects(operator.retry(subscription, eventNumber), (error: unknown) => {
      assert.ok(error instanceof ParkedEventBusyError, `expected ParkedEventBusyError, got ${String(error)}`);
      assert.equal(error.status, 'retrying');
      return true;
    });
  });

  it('an event being retried is busy, even if a takeover schedules it again just after', async () => {
    const eventNumber = await insertRow('retrying');
    const operator = racingOperator(() => setStatus(eventNumber, 'scheduled'));
    await assert.rejects(operator.skip(subscription, eventNumber, 'refunded by hand'), ParkedEventBusyError);
  });

  it('a waiting event is reported as waiting, even if it fails and becomes the head just after', async () => {
    const eventNumber = await insertRow('waiting');
    const operator = racingOperator(() => setStatus(eventNumber, 'parked'));
    await assert.rejects(operator.retry(subscription, eventNumber), (error: unknown) => {
      assert.ok(error instanceof NotParkedError, `expected NotParkedError, got ${String(error)}`);
      assert.equal(error.status, 'waiting');
      return true;
    });
  });

  it('a request that waits for the runner’s row lock decides on the status the runner committed', async () => {
    const eventNumber = await insertRow('retrying');
    const runner = await pool.connect();
    try {
      await runner.query('BEGIN');
      await runner.query(`UPDATE "${context}".parked_events SET status = 'parked' WHERE subscription = $1 AND event_number = $2`, [
        subscription,
        eventNumber,
      ]);
      const operator = new ParkedEvents(pool, `"${context}"`, `herald_${context}`);
      const request = operator.retry(subscription, eventNumber);
      request.catch(() => {}); // awaited below, after the runner commits
      const runnerPid = (await runner.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      await waitFor(
        async () => (await pool.query('SELECT 1 FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))', [runnerPid])).rows.length > 0,
        { message: 'the request to wait for the row lock' },
      );
      await runner.query('COMMIT');
      assert.deepEqual(await request, { status: 'requested', error: null });
      assert.equal(await statusOf(eventNumber), 'retry_requested');
    } finally {
      runner.release();
    }
  });

  it('a parked event is requested once; a second request finds it busy', async () => {
    const eventNumber = await insertRow('parked');
    const operator = new ParkedEvents(pool, `"${context}"`, `herald_${context}`);
    await operator.skip(subscription, eventNumber, 'refunded by hand');
    assert.equal(await statusOf(eventNumber), 'skip_requested');
    await assert.rejects(operator.retry(subscription, eventNumber), ParkedEventBusyError);
    await assert.rejects(operator.retry(subscription, 999_999), (error: unknown) => error instanceof NotParkedError && error.status === undefined);
  });
});
