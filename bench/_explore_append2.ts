import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import type pg from 'pg';
import { createHerald, openDatabase } from '../src/index.js';
import { Schemas, extraPool, median, orderPayload, runWriters } from './lib.js';

function pgCpuTicks(): number {
  let t = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (!comm.startsWith('postgres') && !comm.startsWith('postmaster')) continue;
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      t += Number(f[11]) + Number(f[12]);
    } catch {}
  }
  return t; // clock ticks (100/s)
}
const db = await openDatabase();
const wp = extraPool(db.url, 8);
const schemas = new Schemas();
const ms = Number(process.env.MS ?? 3000);
try {
  const s = schemas.name('x');
  const h = createHerald({ pool: db.pool, context: s });
  await h.migrate();
  await db.pool.query(`CREATE TABLE "${s}".orders (id uuid PRIMARY KEY, sku text NOT NULL, qty int NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`);
  await db.pool.query(`CREATE TABLE "${s}".outbox (id bigserial PRIMARY KEY, event_id uuid NOT NULL, aggregate_id text NOT NULL, event_type text NOT NULL, payload jsonb NOT NULL, metadata jsonb NOT NULL DEFAULT '{}', occurred_at timestamptz NOT NULL DEFAULT now(), dispatched_at timestamptz NULL)`);
  await db.pool.query(`CREATE INDEX ON "${s}".outbox (dispatched_at) WHERE dispatched_at IS NULL`);
  const order = (c: pg.PoolClient, id: string, p: Record<string, string | number>) =>
    c.query({ name: `o_${s}`, text: `INSERT INTO "${s}".orders (id, sku, qty) VALUES ($1,$2,$3)`, values: [id, p.sku, p.qty] });
  const fnArg = (p: unknown) => JSON.stringify([{ id: randomUUID(), type: 'OrderPlaced', data: p, metadata: {}, causation: null, correlation: null }]);
  const variants: Record<string, (c: pg.PoolClient, w: number, i: number) => Promise<number>> = {
    raw: async (c, w, i) => {
      const id = randomUUID(); const p = orderPayload(id, w * 1e6 + i);
      await order(c, id, p);
      await c.query({ name: `ob_${s}`, text: `INSERT INTO "${s}".outbox (event_id, aggregate_id, event_type, payload, metadata) VALUES ($1,$2,$3,$4,$5)`, values: [randomUUID(), `order-${id}`, 'OrderPlaced', JSON.stringify(p), '{}'] });
      return 1; },
    herald: async (c, w, i) => {
      const id = randomUUID(); const p = orderPayload(id, w * 1e6 + i);
      await order(c, id, p);
      await h.append(c, `order-${id}`, [{ type: 'OrderPlaced', data: p }]);
      return 1; },
    fn_unnamed: async (c, w, i) => {
      const id = randomUUID(); const p = orderPayload(id, w * 1e6 + i);
      await order(c, id, p);
      await c.query(`SELECT "${s}".append_events($1, $2, $3::jsonb) AS version`, [`order-${id}`, -1, fnArg(p)]);
      return 1; },
    fn_named: async (c, w, i) => {
      const id = randomUUID(); const p = orderPayload(id, w * 1e6 + i);
      await order(c, id, p);
      await c.query({ name: `fn_${s}`, text: `SELECT "${s}".append_events($1, $2, $3::jsonb) AS version`, values: [`order-${id}`, -1, fnArg(p)] });
      return 1; },
  };
  for (const v of Object.values(variants)) await runWriters(wp, 8, 1000, v);
  const out: Record<string, { rate: number[]; node: number[]; pg: number[] }> = {};
  for (let r = 0; r < 3; r++) for (const [k, v] of Object.entries(variants)) {
    const c0 = process.cpuUsage(); const p0 = pgCpuTicks();
    const run = await runWriters(wp, 8, ms, v);
    const c1 = process.cpuUsage(c0); const p1 = pgCpuTicks();
    (out[k] ??= { rate: [], node: [], pg: [] }).rate.push(run.eventsPerSecond);
    out[k]!.node.push((c1.user + c1.system) / run.transactions); // µs per tx
    out[k]!.pg.push(((p1 - p0) * 10000) / run.transactions);
  }
  for (const [k, v] of Object.entries(out)) console.log(k.padEnd(12), 'ev/s', Math.round(median(v.rate)), ' node µs/tx', Math.round(median(v.node)), ' pg µs/tx', Math.round(median(v.pg)));
} finally {
  await schemas.dropAll(db.pool); await wp.end(); await db.close();
}
