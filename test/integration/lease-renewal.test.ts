/**
 * A lease renewal still in flight when the lease was lost and taken again must not mark the new
 * holding lost (which would cost a needless takeover round). The runner is driven with a lease
 * whose renewals the test answers by hand, on a real log.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHerald } from '../../src/index.js';
import { LogPages } from '../../src/log/pages.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { Telemetry } from '../../src/runtime/telemetry.js';
import type { Lease } from '../../src/subscriptions/lease.js';
import { type RunnerHooks, SubscriptionRunner } from '../../src/subscriptions/runner.js';
import { createPool, dropContext, uniqueContext, waitFor } from '../helpers/db.js';

test('lease: a renewal answered for an earlier holding does not mark a re-acquired lease lost', async (t) => {
  const pool = createPool(4);
  const context = uniqueContext('lease');
  const herald = createHerald({ pool, context });
  await herald.migrate();
  t.after(async () => {
    await runner.stop();
    await dropContext(pool, context);
    await pool.end();
  });
  const append = async (n: number) => {
    await herald.append(`s-${n}`, { type: 'Tick', data: { n } });
    await pool.query(`SELECT * FROM "${context}".sequence_events(1000, 'unused')`);
  };

  let acquired = 0;
  let refuseNextCheckpoint = false;
  let position = 0;
  const renewals: ((ok: boolean) => void)[] = [];
  const lease = {
    owner: 'me',
    name: 'racy',
    ttlMs: 150,
    acquire: async () => (++acquired, position),
    renew: () => new Promise<boolean>((resolve) => renewals.push(resolve)),
    release: async () => {},
    fence: async () => true,
    recordError: async () => {},
    checkpoint: async (_db: unknown, from: number, to: number) => {
      if (refuseNextCheckpoint) {
        refuseNextCheckpoint = false;
        return false; // another process took the lease meanwhile
      }
      assert.equal(from, position);
      position = to;
      return true;
    },
  } as unknown as Lease;
  const noop = () => {};
  const hooks: RunnerHooks = { telemetry: new Telemetry(), progress: noop, attemptFailed: noop, eventParked: noop, eventSkipped: noop, parkedRetried: noop, eventAlreadySeen: noop, subscriptionStopped: noop };
  const runner = new SubscriptionRunner({ name: 'racy', handle: () => {}, checkpointAfterMs: 0 }, pool, `"${context}"`, lease, new LogPages(pool, `"${context}"`), { leaseTtlMs: 150, pollMs: 20 }, silentLogger, hooks, undefined);
  await runner.start();
  assert.equal(acquired, 1);

  // A renewal goes out and stays unanswered; meanwhile the lease is lost and taken again.
  await waitFor(() => renewals.length >= 1, { message: 'a renewal in flight' });
  const stale = renewals[0]!;
  refuseNextCheckpoint = true;
  await append(1);
  await waitFor(() => acquired === 2, { message: 'lease lost at the checkpoint, then acquired again' });
  // Now the old renewal's answer arrives: it was about the earlier holding.
  stale(false);
  await append(2);
  await waitFor(() => position === 2, { message: 'both events checkpointed' });
  assert.equal(acquired, 2, 'no second takeover round');
});
