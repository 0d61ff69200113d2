/**
 * `latency_p50_ms`, `latency_p99_ms` and the cross-process figures.
 *
 * Commit → handler latency under a steady 1000 events/s (see LOAD in latency-shared.ts): the writer
 * takes the wall-clock time when `herald.transaction()` resolves (right after COMMIT), a live
 * subscription (no-op, eventual, default batchSize) takes it when its handler is called with the
 * event; latency = handler time − commit time, over every event of the measured window (after a
 * warm-up). Absolute figures: no baseline.
 *
 * - in-process: writer and runtime (sequencer + subscription) share one process and one Herald;
 *   a commit through `herald.transaction()` hints the local sequencer directly.
 * - cross-process: the writer is a child process without the runtime (`sequencer: false`); the
 *   runtime process learns of commits from the writer's NOTIFY (or its 200 ms idle poll).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { createHerald, type Herald } from '../src/index.js';
import { type BenchResult, type Schemas, extraPool, fmt, log, percentile, round, sleep, wallNow } from './lib.js';
import { LOAD, runOpenLoopWriter, type WriterOutcome } from './latency-shared.js';

export interface LatencyContext {
  readonly url: string;
  readonly runtimePool: pg.Pool;
  readonly schemas: Schemas;
}

interface Latencies {
  p50: number;
  p99: number;
  max: number;
  count: number;
}

/** Starts a runtime with one live subscription that stamps when its handler sees each event. */
async function startRuntime(pool: pg.Pool, context: string): Promise<{ herald: Herald; handled: Map<string, number> }> {
  const handled = new Map<string, number>();
  const herald = createHerald({ pool, context });
  await herald.migrate();
  herald.subscribe({
    name: 'latency',
    startFrom: 'current',
    consistency: 'eventual',
    handle: (event) => {
      handled.set(event.metadata.eventId, wallNow());
    },
  });
  await herald.start();
  return { herald, handled };
}

async function collect(outcome: WriterOutcome, handled: Map<string, number>, label: string): Promise<Latencies> {
  const deadline = Date.now() + 30_000;
  while (outcome.commits.some(([id]) => !handled.has(id))) {
    if (Date.now() > deadline) throw new Error(`${label}: some events were not handled within 30 s of the last commit`);
    await sleep(20);
  }
  const latencies = outcome.commits.map(([id, committedAt]) => handled.get(id)! - committedAt);
  const result = {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: Math.max(...latencies),
    count: latencies.length,
  };
  const achieved = outcome.transactions / outcome.seconds;
  log(
    `  ${label}: ${fmt(result.count)} events measured; p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, ` +
      `max ${result.max.toFixed(1)} ms, min ${Math.min(...latencies).toFixed(2)} ms ` +
      `(${latencies.filter((l) => l < 0).length} negative: the writer stamped its commit late); writer achieved ${fmt(achieved)} tx/s ` +
      `(schedule fell behind by up to ${outcome.maxBehindMs.toFixed(1)} ms)`,
  );
  return result;
}

async function inProcess(url: string, context: string): Promise<Latencies> {
  // Writers and runtime share this pool, as in one application process.
  const pool = extraPool(url, 20);
  try {
    await Promise.all(Array.from({ length: 20 }, () => pool.query('SELECT 1')));
    const { herald, handled } = await startRuntime(pool, context);
    try {
      const outcome = await runOpenLoopWriter(herald);
      return await collect(outcome, handled, 'in-process');
    } finally {
      await herald.stop();
    }
  } finally {
    await pool.end();
  }
}

async function crossProcess(url: string, runtimePool: pg.Pool, context: string): Promise<Latencies> {
  const { herald, handled } = await startRuntime(runtimePool, context);
  try {
    const child = fork(fileURLToPath(new URL('./latency-writer.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, DATABASE_URL: url, BENCH_LATENCY_CONTEXT: context },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const outcome = await new Promise<WriterOutcome>((resolve, reject) => {
      child.on('message', (message: { type: string; outcome?: WriterOutcome; message?: string }) => {
        if (message.type === 'ready') child.send({ type: 'go' });
        else if (message.type === 'done' && message.outcome) resolve(message.outcome);
        else if (message.type === 'error') reject(new Error(`latency writer failed: ${message.message}`));
      });
      child.once('exit', (code) => reject(new Error(`latency writer exited (${code}) before reporting`)));
      child.once('error', reject);
    });
    await exited;
    return await collect(outcome, handled, 'cross-process');
  } finally {
    await herald.stop();
  }
}

export async function latencyBench(ctx: LatencyContext): Promise<BenchResult[]> {
  const { url, runtimePool, schemas } = ctx;
  log(
    `latency: ${LOAD.transactionsPerSecond} tx/s × ${LOAD.eventsPerTransaction} event(s) via herald.transaction(), open loop; ` +
      `${LOAD.warmupMs} ms warm-up, ${LOAD.measureMs} ms measured`,
  );
  const local = await inProcess(url, schemas.name('latency'));
  const results: BenchResult[] = [
    { name: 'latency_p50_ms', value: round(local.p50, 2), unit: 'ms', baseline: null, ratio: null },
    { name: 'latency_p99_ms', value: round(local.p99, 2), unit: 'ms', baseline: null, ratio: null },
  ];
  const remote = await crossProcess(url, runtimePool, schemas.name('latency_x'));
  results.push(
    { name: 'latency_p50_ms_cross_process_writer', value: round(remote.p50, 2), unit: 'ms', baseline: null, ratio: null },
    { name: 'latency_p99_ms_cross_process_writer', value: round(remote.p99, 2), unit: 'ms', baseline: null, ratio: null },
  );
  return results;
}
