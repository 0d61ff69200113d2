/**
 * Processes die. A subscriber killed with SIGKILL in the middle of a batch leaves no partial
 * effect (its transaction never committed), and a standby takes over once the lease expires;
 * every event's effect is in the database exactly once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHerald } from '../../src/index.js';
import { createPool, dropContext, uniqueContext, waitFor } from '../helpers/db.js';
import { type FixtureProcess, startFixture } from '../helpers/processes.js';

describe('crash and takeover', () => {
  const pool = createPool();
  const context = uniqueContext('crash');
  const children: FixtureProcess[] = [];
  const spawnSubscriber = (config: object) => {
    const child = startFixture('subscriber', { context, ...config });
    children.push(child);
    return child;
  };
  const subscription = async (name: string) => {
    const { rows } = await pool.query(`SELECT position::int, lease_owner FROM "${context}".subscriptions WHERE name = $1`, [name]);
    return rows[0] as { position: number; lease_owner: string | null } | undefined;
  };
  const effects = async (handlers = ['holder', 'standby']) =>
    (
      await pool.query(
        `SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS d FROM "${context}".effects WHERE handled_by = ANY($1)`,
        [handlers],
      )
    ).rows[0] as { n: number; d: number };

  before(async () => {
    const herald = createHerald({ pool, context });
    await herald.migrate();
    await pool.query(`CREATE TABLE "${context}".effects (event_id uuid NOT NULL, event_number bigint NOT NULL, handled_by text NOT NULL)`);
    for (let i = 0; i < 20; i++) {
      await herald.append(
        `stream-${i % 7}`,
        Array.from({ length: 50 }, (_, j) => ({ type: 'Work', data: { i, j } })),
      );
    }
    await herald.start(); // sequences the 1000 events
    await waitFor(async () => (await herald.status()).unsequenced === 0);
    await herald.stop();
  });
  after(async () => {
    await Promise.all(children.map((c) => c.kill('SIGKILL')));
    await dropContext(pool, context);
    await pool.end();
  });

  it('SIGKILL mid-batch: no partial effect; a standby takes over within the lease bound; effects exactly once', async (t) => {
    const name = 'crash-effects';
    const leaseTtlMs = 1500;
    const holder = spawnSubscriber({ name, processId: 'holder', batchSize: 50, handlerDelayMs: 2, printEach: true, leaseTtlMs });
    await holder.waitForLine((l) => l === 'ready');
    const standby = spawnSubscriber({ name, processId: 'standby', batchSize: 50, leaseTtlMs });
    await standby.waitForLine((l) => l === 'ready');
    assert.equal((await subscription(name))?.lease_owner, 'holder');

    // Kill in the middle of a batch: after the 25th event of a batch of 50 has started.
    await holder.waitForLine((l) => /^handling \d+$/.test(l) && Number(l.split(' ')[1]) > 300 && Number(l.split(' ')[1]) % 50 === 25);
    await holder.kill('SIGKILL');
    const killedAt = Date.now();

    const atKill = await subscription(name);
    const partial = await effects();
    assert.equal(partial.n, atKill!.position, 'effects committed = checkpoint: the interrupted batch left nothing');
    assert.equal(partial.n % 50, 0, 'only whole batches committed');

    await waitFor(async () => (await subscription(name))?.lease_owner === 'standby', { timeoutMs: leaseTtlMs * 4, message: 'takeover' });
    t.diagnostic(`takeover after ${Date.now() - killedAt} ms (lease ttl ${leaseTtlMs} ms)`);
    await waitFor(async () => (await subscription(name))?.position === 1000, { timeoutMs: 30_000, message: 'standby catches up' });

    const final = await effects();
    assert.deepEqual(final, { n: 1000, d: 1000 }, 'every event’s effect exactly once');
    const { rows } = await pool.query(`SELECT handled_by, count(*)::int AS n FROM "${context}".effects GROUP BY handled_by ORDER BY 1`);
    assert.deepEqual(rows.map((r) => r.handled_by), ['holder', 'standby']);
  });

  it('SIGKILL then restart of the only process: it resumes from the checkpoint, effects exactly once', async () => {
    const name = 'crash-restart';
    const first = spawnSubscriber({ name, processId: 'first', batchSize: 40, handlerDelayMs: 1, printEach: true, leaseTtlMs: 800 });
    await first.waitForLine((l) => /^handling \d+$/.test(l) && Number(l.split(' ')[1]) > 200 && Number(l.split(' ')[1]) % 40 === 20);
    await first.kill('SIGKILL');
    const second = spawnSubscriber({ name, processId: 'second', batchSize: 40, leaseTtlMs: 800 });
    await second.waitForLine((l) => l === 'ready');
    await waitFor(async () => (await subscription(name))?.position === 1000, { timeoutMs: 30_000, message: 'restart catches up' });
    assert.deepEqual(await effects(['first', 'second']), { n: 1000, d: 1000 });
  });

  it('SIGKILL between the handler’s write and its commit leaves no partial effect', async () => {
    const name = 'crash-mid-write';
    const victim = spawnSubscriber({ name, processId: 'victim', batchSize: 1, hangAfterWriting: 500, leaseTtlMs: 800 });
    await victim.waitForLine((l) => l === 'wrote 500');
    await victim.kill('SIGKILL');
    const { rows } = await pool.query(
      `SELECT count(*)::int AS n FROM "${context}".effects WHERE handled_by = 'victim' AND event_number = 500`,
    );
    assert.equal(rows[0].n, 0, 'the written but uncommitted effect is gone');
    assert.equal((await subscription(name))?.position, 499);
    const heir = spawnSubscriber({ name, processId: 'heir', batchSize: 50, leaseTtlMs: 800 });
    await heir.waitForLine((l) => l === 'ready');
    await waitFor(async () => (await subscription(name))?.position === 1000, { timeoutMs: 30_000, message: 'heir catches up' });
    assert.deepEqual(await effects(['victim', 'heir']), { n: 1000, d: 1000 });
  });
});
