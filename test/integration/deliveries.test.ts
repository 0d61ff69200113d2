/**
 * The sender's delivery journal on its own (no broker): acknowledgements in, figures out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHerald } from '../../src/index.js';
import { createPool, dropContext, uniqueContext, waitFor } from '../helpers/db.js';

test('deliveries: ranges in, per-consumer figures, journeys and flags out; compaction changes no answer', async (t) => {
  const pool = createPool(4);
  const context = uniqueContext('dlv');
  const herald = createHerald({ pool, context, deliveries: { flagAfterMs: 0 } });
  await herald.migrate();
  t.after(async () => {
    await herald.stop();
    await dropContext(pool, context);
    await pool.end();
  });
  await herald.start();
  for (let i = 0; i < 20; i++) await herald.append(`s-${i % 4}`, { type: 'E', data: { i } });
  await waitFor(async () => (await herald.status()).head === 20, { message: 'sequenced' });
  const at = new Date();
  const ack = (consumer: string, ranges: [number, number][]) =>
    herald.deliveries.record({ consumer, source: context, ranges: ranges.map(([first, last]) => ({ first, last, firstHandledAt: at, lastHandledAt: at })) });
  await herald.deliveries.expect(['audit']); // never acknowledges: everything flagged
  await ack('billing', [[1, 5]]);
  await ack('billing', [[4, 9]]); // overlapping (a redelivery)
  await ack('billing', [[12, 20]]); // 10 and 11 still missing
  await ack('late', [[15, 20]]); // joined later: counts from 15
  const answers = async () => ({
    status: (await herald.deliveries.status(20)).map(({ lastAcknowledgedAt, ...rest }) => rest),
    flagged: (await herald.deliveries.flagged({ limit: 100 })).map((f) => `${f.consumer}:${f.eventNumber}`),
    journey10: (await herald.deliveries.journey(10))?.consumers.map((c) => `${c.consumer}:${c.status}`),
    journey16: (await herald.deliveries.journey(16))?.consumers.map((c) => `${c.consumer}:${c.status}`),
  });
  const before = await answers();
  assert.deepEqual(before.status, [
    { consumer: 'audit', expected: true, handledThrough: 0, handled: 0, pending: 20, flagged: 20 },
    { consumer: 'billing', expected: false, handledThrough: 9, handled: 18, pending: 2, flagged: 2 },
    { consumer: 'late', expected: false, handledThrough: 20, handled: 6, pending: 0, flagged: 0 },
  ]);
  assert.ok(before.flagged.includes('billing:10') && before.flagged.includes('billing:11'));
  assert.equal(before.flagged.filter((f) => f.startsWith('billing:')).length, 2);
  assert.equal(before.flagged.filter((f) => f.startsWith('late:')).length, 0);
  assert.deepEqual(before.journey10, ['audit:flagged', 'billing:flagged']);
  assert.deepEqual(before.journey16, ['audit:flagged', 'billing:handled', 'late:handled']);

  await herald.deliveries.compact(0);
  const { rows } = await pool.query(`SELECT consumer, first_number, last_number FROM "${context}".deliveries ORDER BY consumer, first_number`);
  assert.deepEqual(
    rows.map((r) => `${r.consumer}:${r.first_number}-${r.last_number}`),
    ['billing:1-9', 'billing:12-20', 'late:15-20'],
  );
  assert.deepEqual(await answers(), before);
});
