/**
 * Strong consistency across processes: the writer process runs no subscription and no sequencer;
 * a strong subscription lives in another process. A strong append resolves only once that
 * process has committed the handler's writes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConsistencyTimeoutError, createHerald, type Herald } from '../../src/index.js';
import { createPool, dropContext, uniqueContext, waitFor } from '../helpers/db.js';
import { type FixtureProcess, startFixture } from '../helpers/processes.js';

describe('strong consistency across processes', () => {
  const pool = createPool();
  const context = uniqueContext('strong');
  let writer: Herald;
  let strongChild: FixtureProcess;
  let slowEventualChild: FixtureProcess;

  const effectsOf = async (eventIds: readonly string[], handledBy: string) =>
    (
      await pool.query(`SELECT count(*)::int AS n FROM "${context}".effects WHERE event_id = ANY($1::uuid[]) AND handled_by = $2`, [
        eventIds,
        handledBy,
      ])
    ).rows[0].n as number;

  before(async () => {
    writer = createHerald({ pool, context, sequencer: false });
    await writer.migrate();
    await pool.query(`CREATE TABLE "${context}".effects (event_id uuid NOT NULL, event_number bigint NOT NULL, handled_by text NOT NULL)`);
    strongChild = startFixture('subscriber', { context, name: 'projection', consistency: 'strong', processId: 'strong', handlerDelayMs: 20 });
    slowEventualChild = startFixture('subscriber', { context, name: 'mailer', processId: 'slow', handlerDelayMs: 2000 });
    await strongChild.waitForLine((l) => l === 'ready');
    await slowEventualChild.waitForLine((l) => l === 'ready');
  });
  after(async () => {
    await strongChild.kill('SIGKILL');
    await slowEventualChild.kill('SIGKILL');
    await dropContext(pool, context);
    await pool.end();
  });

  it('a strong append resolves after the strong subscription in another process committed its writes', async () => {
    for (let i = 0; i < 5; i++) {
      const result = await writer.append(`account-${i}`, [{ type: 'Deposited', data: { i } }, { type: 'Deposited', data: { i } }], {
        consistency: 'strong',
      });
      assert.equal(await effectsOf(result.eventIds, 'strong'), 2, `append ${i}: projection written before append resolved`);
    }
  });

  it('eventual subscriptions do not hold a strong append back', async () => {
    const result = await writer.append('account-x', { type: 'Deposited', data: {} }, { consistency: 'strong' });
    assert.equal(await effectsOf(result.eventIds, 'strong'), 1);
    assert.equal(await effectsOf(result.eventIds, 'slow'), 0, 'the 2 s mailer has not handled it yet');
  });

  it('inside herald.transaction(), and via waitForConsistency() after a caller-owned commit', async () => {
    const viaTransaction = await writer.transaction((tx) => writer.append(tx, 'account-t', { type: 'Deposited', data: {} }, { consistency: 'strong' }));
    assert.equal(await effectsOf(viaTransaction.eventIds, 'strong'), 1);

    const client = await pool.connect();
    let result;
    try {
      await client.query('BEGIN');
      result = await writer.append(client, 'account-own', { type: 'Deposited', data: {} });
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await writer.waitForConsistency(result);
    assert.equal(await effectsOf(result.eventIds, 'strong'), 1);
  });

  it('rejects after the timeout naming the subscription still behind; the events stay committed', async () => {
    strongChild.child.kill('SIGSTOP');
    try {
      await assert.rejects(
        writer.append('account-late', { type: 'Deposited', data: {} }, { consistency: 'strong', consistencyTimeoutMs: 700 }),
        (err: unknown) => {
          assert.ok(err instanceof ConsistencyTimeoutError);
          assert.deepEqual(err.behind.map((b) => b.name), ['projection']);
          assert.match(err.message, /projection/);
          return true;
        },
      );
      assert.equal((await writer.readStream('account-late')).length, 1, 'committed despite the timeout');
    } finally {
      strongChild.child.kill('SIGCONT');
    }
    const [event] = await writer.readStream('account-late');
    await waitFor(async () => (await effectsOf([event!.metadata.eventId], 'strong')) === 1, { message: 'handled after resuming' });
  });
});
