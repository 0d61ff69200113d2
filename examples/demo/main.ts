/**
 * `npm start`: the Herald demo. Four bounded contexts (orders, inventory, payments, shipping),
 * each in its own schema with its own log, an order saga across them, traffic, compensation,
 * parked events, and the ledger that proves nothing was lost or applied twice. `--chaos` runs
 * the contexts' workers as child processes and kills them with kill -9 while the traffic flows.
 *
 * The database is DATABASE_URL, or an embedded PostgreSQL kept in .herald/postgres.
 */
import { openDatabase } from '../../src/index.js';
import { type BrokerKind, probe, shownUrl } from './broker.js';
import { runChaos } from './chaos.js';
import { type DemoOptions, parseOptions, USAGE, UsageError } from './options.js';
import type { Say } from './report.js';
import { runDemo } from './run.js';
import { contextNames } from './shared.js';

const say: Say = (line) => console.log(line);

let options: DemoOptions;
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(`demo: ${error.message} (npm start -- --help lists the options)`);
  process.exit(2);
}
if (options.help) {
  console.log(USAGE);
  process.exit(0);
}

// Ctrl-C stops the traffic and the waiting; everything is then stopped and closed as usual.
const interrupted = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`demo: ${signal}: stopping`);
    interrupted.abort();
  });
}

const db = await openDatabase({ poolSize: 20 }).catch((error: unknown) => {
  console.error(`demo: no database: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
let exitCode = 1;
try {
  const names = Object.values(contextNames(options.prefix));
  say(`Herald demo: four bounded contexts, each with its own schema and log: ${names.join(', ')}`);
  say(db.embedded ? 'database:  embedded PostgreSQL in .herald/postgres (set DATABASE_URL to use your own)' : 'database:  DATABASE_URL');
  const broker = await chooseBroker(options.broker);
  const result = options.chaos ? await runChaos(db.url, db.pool, options, broker, say, interrupted.signal) : await runDemo(db.pool, options, broker, say, interrupted.signal);
  const clean = result.ledger.lost === 0 && result.ledger.duplicates === 0 && result.failedPlacements === 0;
  // Ctrl-C while --stay keeps the panel open after the run is how such a run ends: not an interruption.
  exitCode = result.interrupted ? 130 : clean ? 0 : 1;
} catch (error) {
  console.error(`demo: ${error instanceof Error ? error.message : String(error)}`);
} finally {
  // Waits for every connection to close, then stops the embedded server (if one was started).
  await db.close();
}
process.exit(exitCode);

/** The broker asked for, if it answers; otherwise PostgreSQL subscriptions (said so). */
async function chooseBroker(asked: BrokerKind | undefined): Promise<BrokerKind | undefined> {
  if (!asked) {
    say('transport: PostgreSQL subscriptions between the contexts (--broker rabbitmq|nats|redis for relays and consumers)');
    return undefined;
  }
  const problem = await probe(asked);
  if (problem) {
    say(`transport: ${asked} at ${shownUrl(asked)} is not reachable (${problem}): PostgreSQL subscriptions instead`);
    return undefined;
  }
  say(`transport: ${asked} at ${shownUrl(asked)}: every log relayed to it, consumers with an inbox in the other contexts`);
  return asked;
}
