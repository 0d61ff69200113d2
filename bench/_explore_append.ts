import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { createHerald, openDatabase } from '../src/index.js';
import { Schemas, extraPool, interleaved, median, orderPayload, runWriters, checkpoint } from './lib.js';

const db = await openDatabase();
const wp = extraPool(db.url, 8);
const schemas = new Schemas();
const ms = Number(process.env.MS ?? 3000);
try {
  const s = schemas.name('x');
  const h = createHerald({ pool: db.pool, context: s });
  await h.migrate();
  await db.pool.query(`CREATE TABLE "${s}".orders (id uuid PRIMARY KEY, sku text NOT NULL, qty int NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`);
  await db.pool.query(`CREATE TABLE "${s}".orders2 (id uuid PRIMARY KEY, sku text NOT NULL, qty int NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`);
  await db.pool.query(`CREATE TABLE "${s}".outbox (id bigserial PRIMARY KEY, event_id uuid NOT NULL, aggregate_id text NOT NULL, event_type text NOT NULL, payload jsonb NOT NULL, metadata jsonb NOT NULL DEFAULT '{}', occurred_at timestamptz NOT NULL DEFAULT now(), dispatched_at timestamptz NULL)`);
  await db.pool.query(`CREATE INDEX ON "${s}".outbox (dispatched_at) WHERE dispatched_at IS NULL`);
  await db.pool.query(`CREATE TABLE "${s}".outbox2 (LIKE "${s}".outbox INCLUDING ALL)`);
  // events copy without advisory lock function
  const nolock = schemas.name('nolock');
  const h2 = createHerald({ pool: db.pool, context: nolock });
  await h2.migrate();
  const { rows: [fn] } = await db.pool.query(`SELECT pg_get_functiondef('"${nolock}".append_events'::regproc) AS d`);
  const def: string = fn.d.replace(/PERFORM pg_advisory_xact_lock[^;]*;/, '');
  await db.pool.query(def);
  await db.pool.query(`CREATE TABLE "${nolock}".orders (LIKE "${s}".orders INCLUDING ALL)`);
  const noidx = schemas.name('noidx');
  const h3 = createHerald({ pool: db.pool, context: noidx });
  await h3.migrate();
  await db.pool.query(`DROP INDEX "${noidx}".events_unsequenced_idx`);
  await db.pool.query(`CREATE TABLE "${noidx}".orders (LIKE "${s}".orders INCLUDING ALL)`);

  const order = (c: pg.PoolClient, table: string, id: string, p: Record<string, string | number>, prepared = true) =>
    prepared ? c.query({ name: `o_${table}`, text: `INSERT INTO ${table} (id, sku, qty) VALUES ($1,$2,$3)`, values: [id, p.sku, p.qty] })
             : c.query(`INSERT INTO ${table} (id, sku, qty) VALUES ($1,$2,$3)`, [id, p.sku, p.qty]);
  const variants: Record<string, () => Promise<number>> = {
    raw_prepared: async () => (await runWriters(wp, 8, ms, async (c, w, i) => {
      const id = randomUUID(); const p = orderPayload(id, w * 1e6 + i);
      await order(c, `"${s}".orders`, id, p);
      await c.query({ name: `ob_${s}`, text: `INSERT INTO "${s}".outbox (event_id, aggregate_id, event_type, payload, metadata) VALUES ($1,$2,$3,$4,$5)`, values: [randomUUID(), `order-${id}`, 'OrderPlaced', JSON.stringify(p), '{}'] });
      return 1; })).eventsPerSecond,
    raw_unprepared: async () => (await runWriters(wp, 8, ms, async (c, w, i) => {
      const id = randomUUID(); const p = orderPayload(id, w * 1e6 + i);
      await order(c, `"${s}".orders2`, id, p, false);
      await c.query(`INSERT INTO "${s}".outbox2 (event_id, aggregate_id, event_type, payload, metadata) VALUES ($1,$2,$3,$4,$5)`, [randomUUID(), `order-${id}`, 'OrderPlaced', JSON.stringify(p), '{}']);
      return 1; })).eventsPerSecond,
    herald: async () => (await runWriters(wp, 8, ms, async (c, w, i) => {
      const id = randomUUID(); const p = orderPayload(id, w * 1e6 + i);
      await order(c, `"${s}".orders`, id, p);
      await h.append(c, `order-${id}`, [{ type: 'OrderPlaced', data: p }]);
      return 1; })).eventsPerSecond,
    herald_nolock: async () => (await runWriters(wp, 8, ms, async (c, w, i) => {
      const id = randomUUID(); const p = orderPayload(id, w * 1e6 + i);
      await order(c, `"${nolock}".orders`, id, p);
      await h2.append(c, `order-${id}`, [{ type: 'OrderPlaced', data: p }]);
      return 1; })).eventsPerSecond,
    herald_nounseqidx: async () => (await runWriters(wp, 8, ms, async (c, w, i) => {
      const id = randomUUID(); const p = orderPayload(id, w * 1e6 + i);
      await order(c, `"${noidx}".orders`, id, p);
      await h3.append(c, `order-${id}`, [{ type: 'OrderPlaced', data: p }]);
      return 1; })).eventsPerSecond,
    direct_insert_events: async () => (await runWriters(wp, 8, ms, async (c, w, i) => {
      const id = randomUUID(); const p = orderPayload(id, w * 1e6 + i);
      await order(c, `"${s}".orders`, id, p);
      await c.query({ name: `di_${s}`, text: `INSERT INTO "${s}".events (event_id, stream_id, stream_version, event_type, data, metadata) VALUES ($1,$2,1,$3,$4,'{}')`, values: [randomUUID(), `order-${id}`, 'OrderPlaced', JSON.stringify(p)] });
      return 1; })).eventsPerSecond,
  };
  for (const v of Object.values(variants)) await v();
  const runs = await interleaved(Number(process.env.ROUNDS ?? 3), variants, { label: 'x', unit: 'ev/s' });
  for (const [k, v] of Object.entries(runs)) console.log(k.padEnd(22), Math.round(median(v)));
} finally {
  await schemas.dropAll(db.pool); await wp.end(); await db.close();
}
