import { readFileSync } from 'node:fs';
/**
 * Herald's benchmark suite: `npm run bench` (DATABASE_URL, else an embedded PostgreSQL).
 * `BENCH_QUICK=1` for a smoke run. Writes bench/results/latest.json and prints a table.
 *
 * Every ratio compares Herald with a plain-`pg` baseline (or Herald with itself) measured in this
 * run, on this database, interleaved with the subject runs. See each file for how.
 */
import { fileURLToPath } from 'node:url';
import { openDatabase } from '../src/index.js';
import { appendBench } from './append.js';
import { catchupBench } from './catchup.js';
import { failuresBench } from './failures.js';
import { latencyBench } from './latency.js';
import { relayBench } from './relay.js';
import { outboxBench } from './outbox.js';
import { type BenchResult, QUICK, Schemas, extraPool, load, log, printTable, writeResults } from './lib.js';

const RESULTS = fileURLToPath(new URL('./results/latest.json', import.meta.url));

const started = Date.now();
const db = await openDatabase({ poolSize: 10 });
const writerPool = extraPool(db.url, 8);
const schemas = new Schemas();
let interrupted = false;
process.once('SIGINT', () => {
  interrupted = true;
  log('\ninterrupted: dropping the scratch schemas');
  void schemas
    .dropAll(db.pool)
    .finally(() => process.exit(130));
});

const results: BenchResult[] = [];
let failed = false;
try {
  const { rows } = await db.pool.query<{ server_version: string }>('SHOW server_version');
  log(`Herald bench${QUICK ? ' (QUICK)' : ''}: PostgreSQL ${rows[0]?.server_version} (${db.embedded ? 'embedded' : 'DATABASE_URL'}), schemas ${schemas.prefix}_*, load ${load()}`);
  const groups: [string, () => Promise<BenchResult[]>][] = [
    ['append', () => appendBench({ runtimePool: db.pool, writerPool, schemas })],
    ['catch-up', () => catchupBench({ runtimePool: db.pool, schemas })],
    ['latency', () => latencyBench({ url: db.url, runtimePool: db.pool, schemas })],
    ['failures', () => failuresBench({ runtimePool: db.pool, writerPool, schemas })],
    ['relay', () => relayBench({ url: db.url, runtimePool: db.pool, schemas })],
    ['outbox', () => outboxBench({ url: db.url, runtimePool: db.pool, schemas })],
  ];
  // BENCH_ONLY=append,latency runs some groups and merges their figures into latest.json.
  const only = process.env.BENCH_ONLY?.split(',').map((g) => g.trim());
  for (const [name, run] of groups) {
    if (interrupted) break;
    if (only && !only.includes(name)) continue;
    const t0 = Date.now();
    try {
      results.push(...(await run()));
    } catch (error) {
      failed = true;
      log(`${name} FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
    log(`${name}: ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  }
} finally {
  await schemas.dropAll(db.pool);
  await writerPool.end();
  await db.close();
}

printTable(results);
log(`total ${((Date.now() - started) / 1000).toFixed(0)} s, load ${load()}`);
if (failed) {
  log(`some groups failed: ${RESULTS} left unchanged`);
  process.exitCode = 1;
} else {
  writeResults(RESULTS, process.env.BENCH_ONLY ? mergeResults(RESULTS, results) : results);
  log(`wrote ${RESULTS}`);
}

/** Earlier figures from the file, with this run's replacing those of the same name. */
function mergeResults(path: string, fresh: readonly BenchResult[]): BenchResult[] {
  let earlier: BenchResult[] = [];
  try {
    earlier = JSON.parse(readFileSync(path, 'utf8')) as BenchResult[];
  } catch {
    // no earlier file: only this run's figures
  }
  const names = new Set(fresh.map((r) => r.name));
  return [...earlier.filter((r) => !names.has(r.name)), ...fresh];
}
