import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { createHerald, type Herald, type HeraldOptions, type SubscriptionDefinition } from '../../src/index.js';
import { createPool, dropContext, uniqueContext, waitFor } from './db.js';

/**
 * A context of its own for one operator-controls test: Heralds on one pool (each a "process",
 * with its own processId), an `effects` table that counting handlers write to in their
 * transaction (no unique constraint: a double effect shows), and an operator Herald that is
 * never started — controls must work from a process that runs nothing.
 */
export async function controlWorld(t: TestContext, prefix = 'ctl') {
  const pool = createPool(12);
  const context = uniqueContext(prefix);
  const heralds: Herald[] = [];
  const make = (options: Partial<HeraldOptions> = {}) => {
    const herald = createHerald({ pool, context, leaseTtlMs: 1500, pollMs: 100, ...options });
    heralds.push(herald);
    return herald;
  };
  const operator = make({ processId: 'operator' });
  await operator.migrate();
  // The column layout of test/fixtures/subscriber.ts too (it leaves `subscription` NULL).
  await pool.query(`CREATE TABLE "${context}".effects (subscription text, event_id uuid, event_number bigint NOT NULL, handled_by text)`);
  t.after(async () => {
    await Promise.all(heralds.map((h) => h.stop()));
    await dropContext(pool, context);
    await pool.end();
  });

  /** A subscription whose handler records each event in `effects`, in its transaction. */
  const counting = (name: string, extra: Partial<SubscriptionDefinition> = {}): SubscriptionDefinition => ({
    name,
    async handle(_event, meta, { tx }) {
      await tx.query(`INSERT INTO "${context}".effects (subscription, event_number) VALUES ($1, $2)`, [name, meta.eventNumber]);
    },
    ...extra,
  });
  /** How many times each event's effect was written by `name` (by the handlers of `handledBy`, for the fixture). */
  const effects = async (name: string | null, handledBy?: string): Promise<Map<number, number>> => {
    const { rows } = await pool.query<{ n: string; c: number }>(
      `SELECT event_number AS n, count(*)::int AS c FROM "${context}".effects
        WHERE subscription IS NOT DISTINCT FROM $1 AND ($2::text IS NULL OR handled_by = $2) GROUP BY event_number`,
      [name, handledBy ?? null],
    );
    return new Map(rows.map((r) => [Number(r.n), r.c]));
  };
  /** Asserts each event 1…head has `times(n)` effects of `name`, and no other event has any. */
  const assertEffects = async (name: string | null, head: number, times: (n: number) => number, handledBy?: string) => {
    const seen = await effects(name, handledBy);
    const wrong: string[] = [];
    for (let n = 1; n <= Math.max(head, ...seen.keys()); n++) {
      const expected = n <= head ? times(n) : 0;
      if ((seen.get(n) ?? 0) !== expected) wrong.push(`event ${n}: ${seen.get(n) ?? 0} effects, expected ${expected}`);
    }
    assert.deepEqual(wrong, [], `effects of ${name ?? handledBy}`);
  };
  const appendN = async (herald: Herald, n: number, stream = 'stream') => {
    for (let i = 0; i < n; i++) await herald.append(stream, { type: 'Tick', data: { i } });
  };
  const statusOf = async (name: string) => (await operator.status()).subscriptions.find((s) => s.name === name);
  /**
   * The head once every event committed so far is sequenced (some started Herald sequences).
   * Read after `unsequenced` was seen 0: status reads the head before it counts the unsequenced.
   */
  const sequencedHead = async () => {
    await waitFor(async () => (await operator.status()).unsequenced === 0, { message: 'every event sequenced' });
    return (await operator.status()).head;
  };
  /** Waits until `name` has handled through `position`. */
  const caughtUp = (name: string, position: number, timeoutMs = 15_000) =>
    waitFor(async () => (await statusOf(name))?.position === position, { timeoutMs, message: `${name} at ${position}` });

  return { pool, context, make, operator, counting, effects, assertEffects, appendN, statusOf, sequencedHead, caughtUp };
}
