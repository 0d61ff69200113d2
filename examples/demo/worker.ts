/**
 * One worker process of the chaos run: the work of one context (its subscriptions, the saga in
 * orders, its relay and consumers with a broker), until SIGTERM. The supervisor (chaos.ts) starts
 * two or more per context and kills them with kill -9; leases hand the work to the survivors.
 */
import { openDatabase } from '../../src/index.js';
import { WORKER_CONFIG, type WorkerConfig } from './fleet.js';
import { runContexts } from './routing.js';
import { createWorld } from './world.js';

const config = JSON.parse(process.env[WORKER_CONFIG] ?? 'null') as WorkerConfig | null;
// A worker always uses the supervisor's database; it must never start an embedded server of its own.
if (!config || !process.env.DATABASE_URL) {
  console.error(`worker.ts is started by the demo's --chaos run (it needs ${WORKER_CONFIG} and DATABASE_URL)`);
  process.exit(2);
}

const db = await openDatabase({ poolSize: 12 });
// The supervisor finds the leases a worker holds by this name.
const world = createWorld(db.pool, { prefix: config.prefix, leaseTtlMs: config.leaseTtlMs, pollMs: 200, processId: `${config.label}:${process.pid}` });
const running = await runContexts(world, [config.context], { broker: config.broker, paymentDeadlineMs: config.paymentDeadlineMs, quickRedelivery: true });
process.stdout.write('ready\n');

let stopping: Promise<void> | undefined;
const stop = () => {
  stopping ??= (async () => {
    await running.stop();
    await db.close();
    process.exit(0);
  })();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
