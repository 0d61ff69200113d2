import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import type pg from 'pg';
import { createHerald, openDatabase, type Herald } from '../src/index.js';
import { Schemas, extraPool, median, orderPayload, runWriters, sleep } from './lib.js';

function pgCpuTicks(): number {
  let t = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (!comm.startsWith('postgres')) continue;
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      t += Number(f[11]) + Number(f[12]);
    } catch {}
  }
  return t;
}
const db = await openDatabase();
const wp = extraPool(db.url, 8);
const schemas = new Schemas();
const ms = Number(process.env.MS ?? 4000);
let counter = 0;
try {
  const s = schemas.name('x');
  await createHerald({ pool: db.pool, context: s }).migrate();
  await db.pool.query(`CREATE TABLE "${s}".orders (id uuid PRIMARY KEY, sku text NOT NULL, qty int NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`);
  const work = (h: Herald) => async (c: pg.PoolClient, w: number, i: number) => {
    const id = randomUUID(); const p = orderPayload(id, w * 1e6 + i);
    await c.query({ name: `o_${s}`, text: `INSERT INTO "${s}".orders (id, sku, qty) VALUES ($1,$2,$3)`, values: [id, p.sku, p.qty] });
    await h.append(c, `order-${id}`, [{ type: 'OrderPlaced', data: p }]);
    return 1;
  };
  const stats = async () => {
    const { rows } = await db.pool.query(`SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database())::bigint AS commits,
      (SELECT calls FROM pg_stat_user_functions WHERE schemaname = $1 AND funcname = 'sequence_events') AS seq_calls,
      (SELECT n_tup_upd FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'subscriptions') AS ckpts`, [s]);
    return rows[0];
  };
  await db.pool.query(`SET track_functions = 'pl'`).catch(() => {});
  const variant = async (subs: number, batchSize: number | undefined, runtime: boolean) => {
    const h = createHerald({ pool: db.pool, context: s });
    for (let k = 0; k < subs; k++) h.subscribe({ name: `s${++counter}`, startFrom: 'current', ...(batchSize ? { batchSize } : {}), handle: () => {} });
    if (runtime) {
      await h.start();
      for (;;) { const st = await h.status(); if (st.unsequenced === 0) break; await sleep(50); }
    }
    const s0 = await stats();
    const c0 = process.cpuUsage(); const p0 = pgCpuTicks();
    const run = await runWriters(wp, 8, ms, work(h));
    const c1 = process.cpuUsage(c0); const p1 = pgCpuTicks();
    const s1 = await stats();
    await h.stop();
    return { rate: run.eventsPerSecond, node: (c1.user + c1.system) / run.transactions, pg: ((p1 - p0) * 10000) / run.transactions,
      commitsPerTx: (s1.commits - s0.commits) / run.transactions, seqPerS: (Number(s1.seq_calls ?? 0) - Number(s0.seq_calls ?? 0)) / run.seconds,
      ckptPerS: (s1.ckpts - s0.ckpts) / run.seconds };
  };
  const variants: Record<string, () => ReturnType<typeof variant>> = {
    none: () => variant(0, undefined, false),
    seq_only: () => variant(0, undefined, true),
    live2: () => variant(2, undefined, true),
    live2_b1000: () => variant(2, 1000, true),
  };
  for (const v of Object.values(variants)) { process.env.MS = '1000'; await v(); }
  const out: Record<string, Awaited<ReturnType<typeof variant>>[]> = {};
  for (let r = 0; r < 2; r++) for (const [k, v] of Object.entries(variants)) (out[k] ??= []).push(await v());
  for (const [k, v] of Object.entries(out)) {
    const m = (f: (x: Awaited<ReturnType<typeof variant>>) => number) => median(v.map(f)).toFixed(1);
    console.log(k.padEnd(12), 'ev/s', m((x) => x.rate), 'node µs/tx', m((x) => x.node), 'pg µs/tx', m((x) => x.pg), 'commits/tx', m((x) => x.commitsPerTx), 'seq calls/s', m((x) => x.seqPerS), 'ckpt/s', m((x) => x.ckptPerS));
  }
} finally {
  await schemas.dropAll(db.pool); await wp.end(); await db.close();
}
