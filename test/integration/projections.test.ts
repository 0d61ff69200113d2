/**
 * Rebuilding a read model blue/green: version 2 is built from the origin beside version 1, which
 * keeps serving through its view until the switch; then the view shows version 2.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHerald, type Herald, SubscriptionInitError } from '../../src/index.js';
import { type ProjectionDefinition, registerProjection } from '../../src/projections/index.js';
import { createPool, dropContext, uniqueContext, waitFor } from '../helpers/db.js';

describe('projections rebuilt blue/green', () => {
  const pool = createPool(8);
  const context = uniqueContext('proj');
  const heralds: Herald[] = [];
  const make = () => {
    const herald = createHerald({ pool, context, pollMs: 50 });
    heralds.push(herald);
    return herald;
  };
  const totals = async () => (await pool.query(`SELECT * FROM "${context}".order_totals ORDER BY customer`)).rows;

  const v1: ProjectionDefinition = {
    name: 'order_totals',
    version: 1,
    tables: ['order_totals'],
    setup: async (tx, t) => void (await tx.query(`CREATE TABLE ${t.order_totals} (customer text PRIMARY KEY, total int NOT NULL)`)),
    async handle(event, _meta, { tx, tables }) {
      const { customer, amount } = event.data as { customer: string; amount: number };
      await tx.query(`INSERT INTO ${tables.order_totals} VALUES ($1, $2) ON CONFLICT (customer) DO UPDATE SET total = ${tables.order_totals}.total + $2`, [customer, amount]);
    },
  };

  before(async () => {
    await make().migrate();
  });
  after(async () => {
    for (const h of heralds) await h.stop();
    await dropContext(pool, context);
    await pool.end();
  });

  it('the first version is live at once and serves through its view', async () => {
    const herald = make();
    registerProjection(herald, v1);
    await herald.start();
    for (const [customer, amount] of [['ann', 5], ['bob', 7], ['ann', 1]] as const) await herald.append(`order-${customer}-${amount}`, { type: 'OrderPlaced', data: { customer, amount } });
    await waitFor(async () => (await totals()).length === 2 && (await totals())[0].total === 6, { message: 'v1 built' });
    assert.deepEqual(await totals(), [{ customer: 'ann', total: 6 }, { customer: 'bob', total: 7 }]);
    await herald.stop();
  });

  it('version 2 builds from the origin beside version 1, which serves until the switch', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const v2: ProjectionDefinition = {
      ...v1,
      version: 2,
      setup: async (tx, t) => void (await tx.query(`CREATE TABLE ${t.order_totals} (customer text PRIMARY KEY, total int NOT NULL, orders int NOT NULL)`)),
      async handle(event, meta, { tx, tables }) {
        if (meta.eventNumber === 2) await gate; // hold the build half way
        const { customer, amount } = event.data as { customer: string; amount: number };
        await tx.query(
          `INSERT INTO ${tables.order_totals} VALUES ($1, $2, 1) ON CONFLICT (customer) DO UPDATE SET total = ${tables.order_totals}.total + $2, orders = ${tables.order_totals}.orders + 1`,
          [customer, amount],
        );
      },
    };
    const herald = make();
    const projection = registerProjection(herald, v2, { checkEveryMs: 20 });
    await herald.start();
    const building = await waitFor(async () => {
      const s = await projection.status();
      return s.buildingVersion === 2 ? s : undefined;
    }, { message: 'v2 building' });
    assert.equal(building.liveVersion, 1);
    assert.ok(building.progress < 1, `half way: ${building.progress}`);
    assert.deepEqual(await totals(), [{ customer: 'ann', total: 6 }, { customer: 'bob', total: 7 }], 'v1 still serves, in its own shape');
    await herald.append('order-cid-2', { type: 'OrderPlaced', data: { customer: 'cid', amount: 2 } });
    release();
    await waitFor(async () => (await projection.status()).liveVersion === 2, { message: 'switched to v2' });
    await waitFor(async () => (await totals()).length === 3, { message: 'v2 has the new order too' });
    assert.deepEqual(await totals(), [
      { customer: 'ann', total: 6, orders: 2 },
      { customer: 'bob', total: 7, orders: 1 },
      { customer: 'cid', total: 2, orders: 1 },
    ]);
    const after = await projection.status();
    assert.deepEqual([after.buildingVersion, after.progress], [null, 1]);
    await herald.stop();
  });

  it('an older version than the live one is refused, not switched back', async () => {
    const herald = make();
    registerProjection(herald, v1);
    await assert.rejects(herald.start(), (error: unknown) => error instanceof SubscriptionInitError && /live at version 2; version 1 is older/.test(String((error as Error & { cause?: Error }).cause?.message ?? error)));
    await herald.stop();
  });
});
