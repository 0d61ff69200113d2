/**
 * Child process of the cross-process latency run: a writer without the Herald runtime (no
 * sequencer here). After each commit, `herald.transaction()` sends the writer NOTIFY that wakes the
 * runtime process's sequencer. Protocol over IPC: → `ready`; ← `go`; → `done` with the commit times.
 */
import { createHerald, openDatabase } from '../src/index.js';
import { runOpenLoopWriter } from './latency-shared.js';

type Message = { type: 'ready' } | { type: 'done'; outcome: Awaited<ReturnType<typeof runOpenLoopWriter>> } | { type: 'error'; message: string };

const send = (message: Message) =>
  new Promise<void>((resolve, reject) => {
    if (!process.send) return reject(new Error('latency-writer must be started with an IPC channel (child_process.fork)'));
    process.send(message, (error: Error | null) => (error ? reject(error) : resolve()));
  });

const context = process.env.BENCH_LATENCY_CONTEXT;
if (!context) throw new Error('BENCH_LATENCY_CONTEXT is not set');

const db = await openDatabase({ poolSize: 20 });
try {
  const herald = createHerald({ pool: db.pool, context, sequencer: false });
  // Open the pool's connections before the clock starts.
  await Promise.all(Array.from({ length: 20 }, () => db.pool.query('SELECT 1')));
  const go = new Promise<void>((resolve) => process.once('message', () => resolve()));
  await send({ type: 'ready' });
  await go;
  const outcome = await runOpenLoopWriter(herald);
  await send({ type: 'done', outcome });
} catch (error) {
  await send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) }).catch(() => {});
  process.exitCode = 1;
} finally {
  await db.close();
  process.disconnect?.();
}
