/**
 * `append_ratio` and `append_with_live_ratio`.
 *
 * Workload (all three variants): 8 concurrent writers, one dedicated connection each, looping
 * BEGIN; INSERT one business row into `<schema>.orders`; write one event; COMMIT — one new
 * stream (order) per transaction, the same payload JSON everywhere.
 *
 * - `raw`:    the event is a plain INSERT into a classic transactional-outbox table (plain `pg`,
 *             named prepared statements).
 * - `herald`: the event is `herald.append(client, 'order-<id>', [event])`; no Herald runtime runs.
 * - `live`:   the same as `herald`, while `herald.start()` runs the sequencer and two live
 *             subscriptions (no-op handlers, eventual) on a separate pool.
 *
 * Each variant has its own schema with identical business tables, so no variant pays for rows
 * (or index bloat) another one wrote. Runs are interleaved in rotating order; each value is the
 * median of its rounds.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { createHerald, type Herald, type NewEvent } from '../src/index.js';
import {
  type BenchResult,
  QUICK,
  checkpoint,
  fmt,
  interleaved,
  log,
  median,
  orderPayload,
  ratioResult,
  runWriters,
  sleep,
  type Schemas,
  type WriterRun,
} from './lib.js';

export interface AppendContext {
  /** Pool the Herald runtime (and setup) uses. */
  readonly runtimePool: pg.Pool;
  /** Pool of the 8 writers (at least 8 connections, nothing else uses it during a run). */
  readonly writerPool: pg.Pool;
  readonly schemas: Schemas;
}

const WRITERS = 8;
const RUN_MS = QUICK ? 1000 : 3000;
const WARMUP_MS = QUICK ? 500 : 1500;
const ROUNDS = QUICK ? 1 : 5;

function ordersTable(schema: string): string {
  return `CREATE TABLE "${schema}".orders (
    id uuid PRIMARY KEY, sku text NOT NULL, qty int NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`;
}

/** The business row, identical (and prepared) in every variant. */
function insertOrder(client: pg.PoolClient, schema: string, id: string, payload: Record<string, string | number>): Promise<unknown> {
  return client.query({
    name: `bench_order_${schema}`,
    text: `INSERT INTO "${schema}".orders (id, sku, qty) VALUES ($1, $2, $3)`,
    values: [id, payload.sku, payload.qty],
  });
}

async function setupRaw(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`CREATE SCHEMA "${schema}"`);
  await pool.query(ordersTable(schema));
  // The classic transactional outbox: relay polls WHERE dispatched_at IS NULL.
  await pool.query(`CREATE TABLE "${schema}".outbox (
    id            bigserial   PRIMARY KEY,
    event_id      uuid        NOT NULL,
    aggregate_id  text        NOT NULL,
    event_type    text        NOT NULL,
    payload       jsonb       NOT NULL,
    metadata      jsonb       NOT NULL DEFAULT '{}',
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    dispatched_at timestamptz NULL)`);
  await pool.query(`CREATE INDEX outbox_undispatched_idx ON "${schema}".outbox (dispatched_at) WHERE dispatched_at IS NULL`);
}

function rawWork(schema: string) {
  return async (client: pg.PoolClient, writer: number, i: number): Promise<number> => {
    const id = randomUUID();
    const payload = orderPayload(id, writer * 1_000_000 + i);
    await insertOrder(client, schema, id, payload);
    await client.query({
      name: `bench_outbox_${schema}`,
      text: `INSERT INTO "${schema}".outbox (event_id, aggregate_id, event_type, payload, metadata) VALUES ($1, $2, $3, $4, $5)`,
      values: [randomUUID(), `order-${id}`, 'OrderPlaced', JSON.stringify(payload), '{}'],
    });
    return 1;
  };
}

function heraldWork(herald: Herald, schema: string) {
  return async (client: pg.PoolClient, writer: number, i: number): Promise<number> => {
    const id = randomUUID();
    const payload = orderPayload(id, writer * 1_000_000 + i);
    await insertOrder(client, schema, id, payload);
    const event: NewEvent = { type: 'OrderPlaced', data: payload };
    await herald.append(client, `order-${id}`, [event]);
    return 1;
  };
}

/** Waits until everything appended so far is sequenced and handled by every subscription. */
async function waitCaughtUp(herald: Herald, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await herald.status();
    if (status.unsequenced === 0 && status.subscriptions.every((s) => s.position >= status.head)) return;
    if (Date.now() > deadline) throw new Error(`live runtime did not catch up in ${timeoutMs} ms: ${JSON.stringify(status)}`);
    await sleep(50);
  }
}

function describeRun(run: WriterRun): string {
  return `${fmt(run.transactions)} tx in ${run.seconds.toFixed(2)} s`;
}

export async function appendBench(ctx: AppendContext): Promise<BenchResult[]> {
  const { runtimePool, writerPool, schemas } = ctx;
  const rawSchema = schemas.name('raw');
  const heraldSchema = schemas.name('herald');
  const liveSchema = schemas.name('live');

  await setupRaw(runtimePool, rawSchema);
  const writerHerald = createHerald({ pool: runtimePool, context: heraldSchema });
  await writerHerald.migrate();
  await runtimePool.query(ordersTable(heraldSchema));
  await createHerald({ pool: runtimePool, context: liveSchema }).migrate();
  await runtimePool.query(ordersTable(liveSchema));

  const raw = async (ms: number): Promise<number> => {
    await checkpoint(runtimePool);
    const run = await runWriters(writerPool, WRITERS, ms, rawWork(rawSchema));
    log(`    raw: ${describeRun(run)}`);
    return run.eventsPerSecond;
  };
  const herald = async (ms: number): Promise<number> => {
    await checkpoint(runtimePool);
    const run = await runWriters(writerPool, WRITERS, ms, heraldWork(writerHerald, heraldSchema));
    log(`    herald: ${describeRun(run)}`);
    return run.eventsPerSecond;
  };
  const live = async (ms: number): Promise<number> => {
    // A fresh instance per run; the subscriptions resume from their checkpoints.
    const runtime = createHerald({ pool: runtimePool, context: liveSchema });
    runtime.subscribe({ name: 'live-a', consistency: 'eventual', handle: () => {} });
    runtime.subscribe({ name: 'live-b', consistency: 'eventual', handle: () => {} });
    await runtime.start();
    try {
      // Not timed: sequencing and handling what earlier runs left, so the run measures steady state.
      await waitCaughtUp(runtime);
      await checkpoint(runtimePool);
      const run = await runWriters(writerPool, WRITERS, ms, heraldWork(runtime, liveSchema));
      const status = await runtime.status();
      const lags = status.subscriptions.map((s) => `${s.name} lag ${fmt(s.lag)}`).join(', ');
      log(`    live: ${describeRun(run)}; at the end: ${fmt(status.unsequenced)} unsequenced, ${lags}`);
      return run.eventsPerSecond;
    } finally {
      await runtime.stop();
    }
  };

  log(`append: ${WRITERS} writers, ${RUN_MS} ms per run, ${ROUNDS} round(s); warming up`);
  await raw(WARMUP_MS);
  await herald(WARMUP_MS);
  await live(WARMUP_MS);

  const runs = await interleaved(
    ROUNDS,
    { raw: () => raw(RUN_MS), herald: () => herald(RUN_MS), herald_live: () => live(RUN_MS) },
    { label: 'append', unit: 'events/s' },
  );
  const rawRate = median(runs.raw);
  const heraldRate = median(runs.herald);
  const liveRate = median(runs.herald_live);
  return [
    ratioResult('append_ratio', heraldRate, rawRate, 'events/s'),
    ratioResult('append_with_live_ratio', liveRate, heraldRate, 'events/s'),
  ];
}
