/**
 * `catchup_ratio` (and the informational `catchup_ratio_default_batch`).
 *
 * Setup (untimed): N events (200 000; 20 000 with BENCH_QUICK) appended 1000 per append into N/1000
 * streams, numbered by Herald's sequencer (`start()` drains, then `stop()`), then VACUUM ANALYZE,
 * so every run reads the same settled tables.
 *
 * - `raw`:          plain `pg` on one dedicated connection: keyset pages of 1000 over the same events
 *                   and columns Herald selects (EVENT_COLUMNS), `WHERE event_number > $1 ORDER BY
 *                   event_number LIMIT 1000`, a named prepared statement in array row mode (measured
 *                   ~5% faster than object rows and than an unnamed statement), until a short page.
 *                   It reads them from a single table that holds the number in the row, indexed (a
 *                   copy made at setup: the layout Herald had before event numbers moved to
 *                   `positions`), so Herald's join from positions to events is not in the baseline.
 * - `herald_1000`:  a new subscription (startFrom origin, no-op handler, batchSize 1000): time from
 *                   `herald.start()` until its stored checkpoint equals the head (the handler counts
 *                   events; once it has seen the last one, the checkpoint row is polled until that
 *                   batch's commit is visible).
 * - `herald_100`:   the same with the default batchSize (100).
 */
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { createHerald } from '../src/index.js';
import { EVENT_COLUMNS, eventsInOrder } from '../src/log/records.js';
import { type BenchResult, QUICK, appendOrders, fmt, interleaved, log, median, ratioResult, type Schemas } from './lib.js';

export interface CatchupContext {
  readonly runtimePool: pg.Pool;
  readonly schemas: Schemas;
}

const TOTAL = QUICK ? 20_000 : 200_000;
const PER_APPEND = 1000;
const PAGE = 1000;
const ROUNDS = QUICK ? 1 : 4;
const SEED_WRITERS = 4;

async function seed(pool: pg.Pool, context: string): Promise<void> {
  const appends = TOTAL / PER_APPEND;
  const t0 = performance.now();
  await appendOrders(pool, context, { total: TOTAL, perAppend: PER_APPEND, writers: SEED_WRITERS, streamPrefix: 'catchup-stream' });
  const t1 = performance.now();
  log(`  seeded ${fmt(TOTAL)} events in ${fmt(appends)} appends: ${((t1 - t0) / 1000).toFixed(1)} s`);

  const sequencer = createHerald({ pool, context, sequencer: { batchSize: 1000 } });
  await sequencer.start();
  await sequencer.stop();
  const t2 = performance.now();
  const status = await sequencer.status();
  if (status.head !== TOTAL || status.unsequenced !== 0) throw new Error(`sequencing left ${JSON.stringify(status)}`);
  log(`  sequenced ${fmt(TOTAL)} events: ${((t2 - t1) / 1000).toFixed(1)} s (${fmt(TOTAL / ((t2 - t1) / 1000))} events/s)`);
  // The baseline's single table: every event with its number in the row, indexed on it.
  await pool.query(`CREATE TABLE "${context}".raw_log AS SELECT ${EVENT_COLUMNS} FROM ${eventsInOrder(`"${context}"`)} ORDER BY p.event_number`);
  await pool.query(`ALTER TABLE "${context}".raw_log ADD PRIMARY KEY (event_number)`);
  for (const table of ['events', 'positions', 'raw_log']) await pool.query(`VACUUM (ANALYZE) "${context}".${table}`);
  log(`  vacuumed: ${((performance.now() - t2) / 1000).toFixed(1)} s`);
}

/** EVENT_COLUMNS without their table aliases: the same columns, in the same order, of `raw_log`. */
const RAW_COLUMNS = EVENT_COLUMNS.replace(/\b[ep]\./g, '');

async function rawScan(pool: pg.Pool, context: string): Promise<number> {
  if (!EVENT_COLUMNS.startsWith('p.event_number,')) throw new Error('bench: EVENT_COLUMNS no longer starts with p.event_number');
  const client = await pool.connect();
  try {
    let after = 0;
    let rows = 0;
    const t0 = performance.now();
    for (;;) {
      // Array rows: the fastest form of plain `pg` (every column is still received and parsed).
      const page = await client.query<unknown[]>({
        name: `bench_scan_${context}`,
        text: `SELECT ${RAW_COLUMNS} FROM "${context}".raw_log WHERE event_number > $1 ORDER BY event_number LIMIT ${PAGE}`,
        values: [after],
        rowMode: 'array',
      });
      rows += page.rows.length;
      if (page.rows.length < PAGE) break;
      after = Number(page.rows[page.rows.length - 1]![0]); // event_number is EVENT_COLUMNS' first column
    }
    const seconds = (performance.now() - t0) / 1000;
    if (rows !== TOTAL) throw new Error(`raw scan read ${rows} rows, expected ${TOTAL}`);
    return rows / seconds;
  } finally {
    client.release();
  }
}

let subscriptionCounter = 0;

async function heraldCatchup(pool: pg.Pool, context: string, batchSize: number | undefined): Promise<number> {
  const name = `catchup-${batchSize ?? 'default'}-${++subscriptionCounter}`;
  const herald = createHerald({ pool, context });
  let seen = 0;
  let reachedHead!: () => void;
  const sawLast = new Promise<void>((resolve) => (reachedHead = resolve));
  herald.subscribe({
    name,
    startFrom: 'origin',
    consistency: 'eventual',
    ...(batchSize === undefined ? {} : { batchSize }),
    handle: (event) => {
      seen++;
      if (event.metadata.eventNumber >= TOTAL) reachedHead();
    },
  });
  const t0 = performance.now();
  await herald.start();
  try {
    await sawLast;
    // The handler saw the last event; the run ends when that batch's checkpoint is committed.
    for (;;) {
      const { rows } = await pool.query<{ position: string }>(`SELECT position FROM "${context}".subscriptions WHERE name = $1`, [name]);
      if (Number(rows[0]?.position) >= TOTAL) break;
    }
    const seconds = (performance.now() - t0) / 1000;
    if (seen !== TOTAL) throw new Error(`subscription ${name} handled ${seen} events, expected ${TOTAL}`);
    return TOTAL / seconds;
  } finally {
    await herald.stop();
  }
}

export async function catchupBench(ctx: CatchupContext): Promise<BenchResult[]> {
  const { runtimePool, schemas } = ctx;
  const context = schemas.name('catchup');
  log(`catch-up: ${fmt(TOTAL)} events, pages/batches of ${PAGE}, ${ROUNDS} round(s); seeding`);
  await seed(runtimePool, context);

  log('  warming up (one raw scan)');
  await rawScan(runtimePool, context);
  const runs = await interleaved(
    ROUNDS,
    {
      raw: () => rawScan(runtimePool, context),
      herald_1000: () => heraldCatchup(runtimePool, context, PAGE),
      herald_100: () => heraldCatchup(runtimePool, context, undefined),
    },
    { label: 'catch-up', unit: 'events/s' },
  );
  const raw = median(runs.raw);
  return [
    ratioResult('catchup_ratio', median(runs.herald_1000), raw, 'events/s'),
    ratioResult('catchup_ratio_default_batch', median(runs.herald_100), raw, 'events/s'),
  ];
}
