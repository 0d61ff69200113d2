import pg from 'pg';
import { guardPool } from '../sql/executor.js';

/** A pool that survives terminated connections, and how to end it once its sockets have closed. */
export interface ClosablePool {
  readonly pool: pg.Pool;
  /**
   * Ends the pool and resolves once every connection's socket has closed. Connections still open
   * after `timeoutMs` (a client never released, a server that does not answer) are closed forcibly.
   */
  end(timeoutMs: number): Promise<void>;
}

/** After a forced close, how long to wait for the destroyed sockets to report that they closed. */
const FORCED_CLOSE_MS = 1_000;

/** Opens a pool whose connection errors cannot crash the process and whose sockets are tracked. */
export function openPool(connectionString: string, max: number): ClosablePool {
  const pool = new pg.Pool({ connectionString, max, application_name: 'herald' });
  // pg reports an idle connection the server terminated (a restart, a fast stop,
  // pg_terminate_backend) as a pool 'error', after dropping it: unheard, that event is thrown.
  pool.on('error', () => {});
  // The same termination while a client is checked out is an 'error' on the client itself.
  guardPool(pool);
  const open = trackSockets(pool);
  return { pool, end: (timeoutMs) => endPool(pool, open, timeoutMs) };
}

/** The pool's connections whose socket has not closed yet (a client emits 'end' once it has). */
function trackSockets(pool: pg.Pool): Set<pg.Client> {
  const open = new Set<pg.Client>();
  pool.on('connect', (client) => {
    open.add(client);
    client.once('end', () => open.delete(client));
  });
  return open;
}

async function endPool(pool: pg.Pool, open: Set<pg.Client>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // pool.end() resolves once every client is released and removed, but before their sockets
  // close: only the clients' 'end' says the server has let go of them.
  const closed = pool.end().then(() => allEnded(open));
  if (await settlesBy(closed, deadline)) return;
  for (const client of open) forceClose(client);
  await settlesBy(allEnded(open), Date.now() + FORCED_CLOSE_MS);
}

/** Resolves when every client in `clients` has emitted 'end' (not `events.once`: it rejects on 'error'). */
function allEnded(clients: ReadonlySet<pg.Client>): Promise<void> {
  const ends = [...clients].map((client) => new Promise<void>((resolve) => client.once('end', () => resolve())));
  return Promise.all(ends).then(() => undefined);
}

/** Closes a connection without waiting for the server: its holder's next query fails. */
function forceClose(client: pg.Client): void {
  // end() first marks the client as ending, so pg does not report the closed socket as an error.
  client.end().catch(() => {});
  client.connection.stream.destroy();
}

/** True if `work` settles before `deadline` (epoch ms), false once the deadline passes. */
async function settlesBy(work: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([work.then(() => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}
