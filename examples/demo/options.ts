/** The demo's command line: `npm start -- [options]`. */
import { parseArgs } from 'node:util';
import { BROKERS, type BrokerKind } from './broker.js';

export interface DemoOptions {
  readonly orders: number;
  /** Orders per second. */
  readonly rate: number;
  readonly seed: number;
  /** Asked for with `--broker` or `HERALD_DEMO_BROKER`; `undefined`: PostgreSQL subscriptions. */
  readonly broker: BrokerKind | undefined;
  readonly prefix: string;
  readonly paymentDeadlineMs: number;
  readonly chaos: boolean;
  /** Chaos: worker processes per context. */
  readonly workers: number;
  /** Chaos: how many kill -9 while the traffic flows. */
  readonly kills: number;
  /** Serve the admin panel over the contexts while the demo runs (`--no-admin`: not). */
  readonly admin: boolean;
  /** Its port (`--admin-port` or HERALD_DEMO_ADMIN_PORT, default 4400; a free one when taken; 0: any). */
  readonly adminPort: number;
  /** The `admin` user's password from HERALD_ADMIN_PASSWORD; `undefined`: a random one per run. */
  readonly adminPassword: string | undefined;
  /** Keep the panel (and the contexts) open after the run, until Ctrl-C. */
  readonly stay: boolean;
  readonly help: boolean;
}

export const USAGE = `Usage: npm start -- [options]

Runs four bounded contexts (orders, inventory, payments, shipping) and an order saga on Herald,
sends them traffic, waits until every order is finished, prints a summary and the ledger.

  --orders N          orders to place (default 30; 60 with --chaos)
  --rate R            orders per second (default 10; 4 with --chaos)
  --seed S            seed of the traffic and of the chaos (default 1)
  --broker B          rabbitmq, nats or redis: relays and consumers through that broker when it is
                      reachable (or HERALD_DEMO_BROKER); default: PostgreSQL subscriptions
  --payment-deadline-ms MS   the saga's payment deadline (default 5000)
  --prefix P          schema prefix of the four contexts (or HERALD_DEMO_PREFIX; default demo_)
  --chaos             run each context's workers as child processes and kill -9 them at random
  --workers N         with --chaos: worker processes per context (default 2)
  --kills K           with --chaos: kills while the traffic flows (default 6)
  --admin-port N      the admin panel's port on 127.0.0.1 (or HERALD_DEMO_ADMIN_PORT; default 4400,
                      any free one when it is taken); user admin, a password printed per run
                      (or HERALD_ADMIN_PASSWORD)
  --stay              keep the admin panel open after the run, until Ctrl-C
  --no-admin          no admin panel
  -h, --help          this help

The database is DATABASE_URL, or an embedded PostgreSQL in .herald/postgres.`;

/** A bad command line: the message says which option and why. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

function whole(name: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be a whole number ≥ ${min}, got ${JSON.stringify(text)}`);
  return n;
}

export function parseOptions(args: readonly string[], env: NodeJS.ProcessEnv = process.env): DemoOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: [...args],
      strict: true,
      options: {
        orders: { type: 'string' },
        rate: { type: 'string' },
        seed: { type: 'string' },
        broker: { type: 'string' },
        'payment-deadline-ms': { type: 'string' },
        prefix: { type: 'string' },
        chaos: { type: 'boolean' },
        workers: { type: 'string' },
        kills: { type: 'string' },
        'admin-port': { type: 'string' },
        stay: { type: 'boolean' },
        'no-admin': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const chaos = values.chaos === true;
  const rateText = values.rate as string | undefined;
  const rate = rateText === undefined ? (chaos ? 4 : 10) : Number(rateText);
  if (!Number.isFinite(rate) || rate <= 0 || rate > 10_000) throw new UsageError(`--rate must be a number of orders per second above 0 (at most 10000), got ${JSON.stringify(rateText)}`);
  const broker = ((values.broker as string | undefined) ?? env.HERALD_DEMO_BROKER) || undefined;
  if (broker !== undefined && broker !== 'postgres' && !(BROKERS as readonly string[]).includes(broker)) {
    throw new UsageError(`--broker must be one of ${BROKERS.join(', ')} (or postgres), got ${JSON.stringify(broker)}`);
  }
  const prefix = (values.prefix as string | undefined) ?? env.HERALD_DEMO_PREFIX ?? 'demo_';
  if (!/^[a-z_][a-z0-9_]{0,30}$/.test(prefix) || prefix.startsWith('pg_')) {
    throw new UsageError(`--prefix must be 1-31 lower-case letters, digits or _, not starting with a digit or pg_, got ${JSON.stringify(prefix)}`);
  }
  const admin = values['no-admin'] !== true;
  const stay = values.stay === true;
  if (stay && !admin) throw new UsageError('--stay keeps the admin panel open: it cannot go with --no-admin');
  const adminPassword = env.HERALD_ADMIN_PASSWORD || undefined;
  if (adminPassword !== undefined && (adminPassword.length < 8 || adminPassword.length > 1024)) throw new UsageError('HERALD_ADMIN_PASSWORD must be 8 to 1024 characters');
  const adminPort = whole('admin-port', (values['admin-port'] as string | undefined) ?? (env.HERALD_DEMO_ADMIN_PORT || undefined), 4400, 0);
  if (adminPort > 65_535) throw new UsageError(`--admin-port must be a port number up to 65535, got ${adminPort}`);
  return {
    orders: whole('orders', values.orders as string | undefined, chaos ? 60 : 30, 1),
    rate,
    seed: whole('seed', values.seed as string | undefined, 1, 0),
    broker: broker === 'postgres' ? undefined : (broker as BrokerKind | undefined),
    prefix,
    paymentDeadlineMs: whole('payment-deadline-ms', values['payment-deadline-ms'] as string | undefined, 5000, 100),
    chaos,
    workers: whole('workers', values.workers as string | undefined, 2, 1),
    kills: whole('kills', values.kills as string | undefined, 6, 0),
    admin,
    adminPort,
    adminPassword,
    stay,
    help: values.help === true,
  };
}
