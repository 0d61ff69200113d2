import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHerald, type Herald, InvalidArgumentError } from '../../src/index.js';
import { createPool, dropContext, uniqueContext, waitFor } from '../helpers/db.js';

describe('inbox (idempotent consumer)', () => {
  const pool = createPool(30);
  const context = uniqueContext('inbox');
  let herald: Herald;
  const count = async (sql: string, values: unknown[] = []) => Number((await pool.query(sql, values)).rows[0].n);

  before(async () => {
    herald = createHerald({ pool, context, inbox: { retentionMs: 60_000, cleanupIntervalMs: 50, cleanupBatchSize: 7 } });
    await herald.migrate();
    await pool.query(`CREATE TABLE "${context}".payments (message_id text NOT NULL, amount int NOT NULL)`);
  });
  after(async () => {
    await herald.stop();
    await dropContext(pool, context);
    await pool.end();
  });

  const pay = (messageId: string, delayMs = 0) =>
    herald.inbox.handle('billing', messageId, async (tx) => {
      await tx.query(`INSERT INTO "${context}".payments VALUES ($1, 10)`, [messageId]);
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      return 'paid';
    });

  it('runs the work once; a redelivery reports already handled and changes nothing', async () => {
    assert.deepEqual(await pay('m-1'), { status: 'handled', result: 'paid' });
    assert.deepEqual(await pay('m-1'), { status: 'already-handled' });
    assert.equal(await count(`SELECT count(*) AS n FROM "${context}".payments WHERE message_id = 'm-1'`), 1);
  });

  it('concurrent duplicate deliveries: exactly one runs the work', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => pay('m-concurrent', 20)));
    assert.equal(results.filter((r) => r.status === 'handled').length, 1);
    assert.equal(results.filter((r) => r.status === 'already-handled').length, 19);
    assert.equal(await count(`SELECT count(*) AS n FROM "${context}".payments WHERE message_id = 'm-concurrent'`), 1);
  });

  it('work that fails records nothing, so the next delivery runs it', async () => {
    await assert.rejects(
      herald.inbox.handle('billing', 'm-fail', async (tx) => {
        await tx.query(`INSERT INTO "${context}".payments VALUES ('m-fail', 1)`);
        throw new Error('card declined');
      }),
      /card declined/,
    );
    assert.deepEqual(await pay('m-fail'), { status: 'handled', result: 'paid' });
    assert.equal(await count(`SELECT count(*) AS n FROM "${context}".payments WHERE message_id = 'm-fail'`), 1);
  });

  it('consumers are independent; record() joins a caller-owned transaction', async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      assert.equal(await herald.inbox.record(client, 'shipping', 'm-1'), true);
      assert.equal(await herald.inbox.record(client, 'shipping', 'm-1'), false);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    assert.deepEqual(await herald.inbox.handle('shipping', 'm-1', async () => 'shipped'), { status: 'handled', result: 'shipped' });
  });

  it('rejects empty ids with a typed error', async () => {
    await assert.rejects(herald.inbox.handle('', 'x', async () => 1), InvalidArgumentError);
    await assert.rejects(herald.inbox.handle('billing', '', async () => 1), InvalidArgumentError);
  });

  it('deletes handled ids older than the retention in the background, in batches', async () => {
    await pool.query(
      `INSERT INTO "${context}".inbox (consumer, message_id, handled_at)
       SELECT 'old', 'o-' || i, now() - interval '2 minutes' FROM generate_series(1, 30) AS i`,
    );
    await herald.start();
    await waitFor(async () => (await count(`SELECT count(*) AS n FROM "${context}".inbox WHERE consumer = 'old'`)) === 0, {
      message: 'old ids purged',
    });
    assert.ok((await count(`SELECT count(*) AS n FROM "${context}".inbox WHERE consumer = 'billing'`)) >= 3, 'recent ids kept');
  });
});
