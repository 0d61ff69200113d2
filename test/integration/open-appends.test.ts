/**
 * An append in a transaction left open (idle in transaction) holds back its own events and the
 * stream's lock: status() must show the session, and forget it once it commits.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import { createHerald, type Herald } from '../../src/index.js';
import { createPool, dropContext, uniqueContext, waitFor } from '../helpers/db.js';

describe('open appends in status', () => {
  const pool = createPool(6);
  const contexts: string[] = [];
  const heralds: Herald[] = [];

  /** A context whose lock key, hashtext('herald:' || context), is negative or not: pg_locks shows it as an unsigned oid. */
  const contextWithKey = async (negative: boolean): Promise<string> => {
    for (;;) {
      const context = uniqueContext('open');
      const { rows } = await pool.query<{ negative: boolean }>(`SELECT hashtext('herald:' || $1) < 0 AS negative`, [context]);
      if (rows[0]!.negative === negative) return context;
    }
  };

  before(async () => {
    for (const negative of [true, false]) {
      const context = await contextWithKey(negative);
      contexts.push(context);
      const herald = createHerald({ pool, context, sequencer: false });
      await herald.migrate();
      heralds.push(herald);
    }
  });
  after(async () => {
    for (const context of contexts) await dropContext(pool, context);
    await pool.end();
  });

  /** Opens a transaction on its own client and appends to `stream`, leaving the transaction open. */
  const openAppend = async (herald: Herald, stream: string): Promise<{ client: pg.PoolClient; pid: number }> => {
    const client = await pool.connect();
    const { rows } = await client.query<{ pid: number }>(`SELECT pg_backend_pid() AS pid, set_config('application_name', 'order-writer', false)`);
    await client.query('BEGIN');
    await herald.append(client, stream, { type: 'Opened', data: {} });
    return { client, pid: rows[0]!.pid };
  };

  it('lists a session idle in transaction after an append, oldest first, until it commits', async () => {
    const [negative, positive] = heralds as [Herald, Herald];
    const started = Date.now();
    const first = await openAppend(negative, 'stream-x');
    const second = await openAppend(negative, 'stream-y');
    const elsewhere = await openAppend(positive, 'stream-x');
    try {
      const open = await waitFor(
        async () => {
          const list = (await negative.status()).openAppends;
          return list.length === 2 && list.every((a) => a.state === 'idle in transaction') ? list : undefined;
        },
        { message: 'two idle-in-transaction appends' },
      );
      assert.deepEqual(
        open.map((a) => a.pid),
        [first.pid, second.pid],
        'this context’s sessions only, oldest transaction first',
      );
      const [oldest] = open;
      assert.ok(oldest!.transactionStartedAt instanceof Date);
      assert.ok(oldest!.transactionStartedAt!.getTime() >= started - 5_000, 'started around when the test began');
      assert.ok(oldest!.ageMs! >= 0);
      assert.equal(oldest!.applicationName, 'order-writer');

      const other = (await positive.status()).openAppends;
      assert.deepEqual(other.map((a) => a.pid), [elsewhere.pid], 'a context with a non-negative lock key sees its own session');

      await first.client.query('COMMIT');
      await second.client.query('ROLLBACK');
      await waitFor(async () => (await negative.status()).openAppends.length === 0, { message: 'no open appends after commit' });
    } finally {
      for (const { client } of [first, second, elsewhere]) {
        await client.query('ROLLBACK');
        client.release();
      }
    }
  });
});
