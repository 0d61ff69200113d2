/**
 * Shared helpers of the benchmark suite: timing, statistics, interleaved runs, writer loops,
 * scratch schemas and the result table.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { createHerald, type NewEvent } from '../src/index.js';

/** One line of `bench/results/latest.json`. */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  baseline: number | null;
  ratio: number | null;
}

/** `BENCH_QUICK=1` shrinks every size and duration for a smoke run. */
export const QUICK = process.env.BENCH_QUICK === '1';

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on one host. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile (p in 0…100) of the values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** A result whose ratio is `value / baseline`, both measured in the same run. */
export function ratioResult(name: string, value: number, baseline: number, unit: string): BenchResult {
  return { name, value: round(value, 1), unit, baseline: round(baseline, 1), ratio: round(value / baseline, 3) };
}

export function log(message: string): void {
  process.stdout.write(`${message}\n`);
}

export function fmt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : String(n);
}

export function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** `median (min … max)` of a set of measurements, for the log. */
export function spread(values: readonly number[]): string {
  return `${fmt(median(values))} (${fmt(Math.min(...values))} … ${fmt(Math.max(...values))})`;
}

/**
 * Runs the variants in rounds, rotating their order each round so that none is always first
 * (first after a pause, after a checkpoint…) or always last. Returns every measurement of each.
 */
export async function interleaved<K extends string>(
  rounds: number,
  variants: Record<K, () => Promise<number>>,
  options: { label: string; unit: string },
): Promise<Record<K, number[]>> {
  const keys = Object.keys(variants) as K[];
  const out = Object.fromEntries(keys.map((k) => [k, [] as number[]])) as unknown as Record<K, number[]>;
  for (let round = 0; round < rounds; round++) {
    const order = keys.map((_, i) => keys[(i + round) % keys.length]!);
    for (const key of order) {
      const value = await variants[key]();
      out[key].push(value);
      log(`  ${options.label} round ${round + 1}/${rounds} ${key.padEnd(14)} ${fmt(value).padStart(9)} ${options.unit}   (load ${load()})`);
    }
  }
  for (const key of keys) log(`  ${options.label} ${key.padEnd(14)} median (min … max): ${spread(out[key])} ${options.unit}`);
  return out;
}

/** What a timed writer run achieved. */
export interface WriterRun {
  transactions: number;
  events: number;
  seconds: number;
  eventsPerSecond: number;
}

/**
 * `writers` concurrent loops, one dedicated connection each, for `durationMs`: each iteration is
 * BEGIN; `work(client)`; COMMIT. `work` returns how many events it wrote. The clock runs from the
 * moment every writer holds its connection to the last COMMIT (a writer starts no transaction after
 * the deadline).
 */
export async function runWriters(
  pool: pg.Pool,
  writers: number,
  durationMs: number,
  work: (client: pg.PoolClient, writer: number, iteration: number) => Promise<number>,
): Promise<WriterRun> {
  const clients = await Promise.all(Array.from({ length: writers }, () => pool.connect()));
  let transactions = 0;
  let events = 0;
  const start = performance.now();
  const deadline = start + durationMs;
  try {
    await Promise.all(
      clients.map(async (client, writer) => {
        for (let i = 0; performance.now() < deadline; i++) {
          await client.query('BEGIN');
          try {
            const n = await work(client, writer, i);
            await client.query('COMMIT');
            events += n;
            transactions++;
          } catch (error) {
            await client.query('ROLLBACK').catch(() => {});
            throw error;
          }
        }
      }),
    );
  } finally {
    for (const client of clients) client.release();
  }
  const seconds = (performance.now() - start) / 1000;
  return { transactions, events, seconds, eventsPerSecond: events / seconds };
}

/** Best effort: start every measured run from a fresh checkpoint, so a checkpoint does not land in one run only. */
export async function checkpoint(pool: pg.Pool): Promise<void> {
  await pool.query('CHECKPOINT').catch(() => {});
}

/** Unique names for the run's scratch schemas, all dropped by {@link dropSchemas}. */
export class Schemas {
  readonly prefix = `bench_${randomBytes(4).toString('hex')}`;
  private readonly names = new Set<string>();

  name(suffix: string): string {
    const name = `${this.prefix}_${suffix}`;
    this.names.add(name);
    return name;
  }

  async dropAll(pool: pg.Pool): Promise<void> {
    for (const name of this.names) {
      await pool.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`).catch((error: Error) => log(`could not drop ${name}: ${error.message}`));
    }
  }
}

/** A pool on the same server as the main one, with its own size. */
export function extraPool(url: string, max: number): pg.Pool {
  return new pg.Pool({ connectionString: url, max, application_name: 'herald-bench' });
}

/** The payload every benchmark writes (same JSON for Herald and for the baselines). */
export function orderPayload(orderId: string, i: number): Record<string, string | number> {
  return {
    orderId,
    customerId: `customer-${i % 1000}`,
    sku: `SKU-${(i % 97).toString().padStart(4, '0')}`,
    qty: 1 + (i % 5),
    unitPriceCents: 1999,
    currency: 'EUR',
  };
}

export function printTable(results: readonly BenchResult[]): void {
  const rows = results.map((r) => [
    r.name,
    r.unit === 'ms' ? r.value.toFixed(2) : fmt(r.value),
    r.baseline === null ? '—' : fmt(r.baseline),
    r.ratio === null ? '—' : r.ratio.toFixed(3),
    r.unit,
  ]);
  const header = ['metric', 'value', 'baseline', 'ratio', 'unit'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === 4 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  log('');
  log(line(header));
  log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) log(line(row));
  log('');
}

/** Writes the results atomically (temporary file, then rename). */
export function writeResults(path: string, results: readonly BenchResult[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(results, null, 2)}\n`);
  renameSync(tmp, path);
}

/** Appends `total` OrderPlaced events, `perAppend` per append, from `writers` concurrent writers (benchmark seeding). */
export async function appendOrders(
  pool: pg.Pool,
  context: string,
  options: { total: number; perAppend: number; writers: number; streamPrefix: string },
): Promise<void> {
  const herald = createHerald({ pool, context });
  await herald.migrate();
  const appends = options.total / options.perAppend;
  let next = 0;
  await Promise.all(
    Array.from({ length: options.writers }, async () => {
      for (let a = next++; a < appends; a = next++) {
        const events: NewEvent[] = Array.from({ length: options.perAppend }, (_, i) => ({
          type: 'OrderPlaced',
          data: orderPayload(`order-${a}-${i}`, a * options.perAppend + i),
        }));
        await herald.append(`${options.streamPrefix}-${a}`, events);
      }
    }),
  );
}

/**
 * An open-loop load: `write(i)` is fired on a fixed schedule of `perSecond`, whatever the earlier
 * ones are doing, so a slow system sees the offered load rather than a throttled one. Resolves to
 * the commit time of every event id from writes `firstMeasured` on, and how far the schedule fell behind.
 */
export async function openLoop(options: {
  total: number;
  perSecond: number;
  firstMeasured: number;
  write: (i: number) => Promise<readonly string[]>;
}): Promise<{ commits: [string, number][]; seconds: number; maxBehindMs: number }> {
  const { total, perSecond, firstMeasured, write } = options;
  const commits: [string, number][] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let maxBehindMs = 0;
  const fire = (i: number) => {
    const p = write(i)
      .then((eventIds) => {
        const committedAt = wallNow();
        if (i >= firstMeasured) for (const id of eventIds) commits.push([id, committedAt]);
      })
      .catch((error: unknown) => {
        failure ??= error;
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  const t0 = performance.now();
  let next = 0;
  while (next < total && failure === undefined) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) * perSecond) / 1000) + 1);
    if (due - next > 1) maxBehindMs = Math.max(maxBehindMs, ((due - 1 - next) * 1000) / perSecond);
    while (next < due) fire(next++);
    await sleep(1);
  }
  await Promise.all([...inFlight]);
  if (failure !== undefined) throw failure;
  return { commits, seconds: (performance.now() - t0) / 1000, maxBehindMs };
}
