import type pg from 'pg';

/**
 * The one thing Herald's write path needs from a database driver: run a parameterised statement
 * on the caller's connection (inside the caller's transaction) and return its rows.
 *
 * A `pg` `Client` or `PoolClient` satisfies it as it is. Adapters for other drivers are a few lines:
 *
 * ```ts
 * // postgres.js, inside sql.begin(async (tx) => …)
 * const executor: SqlExecutor = { query: async (text, values) => ({ rows: await tx.unsafe(text, values) }) };
 * // Prisma, inside prisma.$transaction(async (tx) => …)
 * const executor: SqlExecutor = { query: async (text, values) => ({ rows: await tx.$queryRawUnsafe(text, ...values) }) };
 * ```
 *
 * Statements use `$1`-style placeholders; every value is passed as a parameter, never spliced.
 */
export interface SqlExecutor {
  query<Row = Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: Row[] }>;
}

/** Structural view of a `pg` client/pool, so `pg` stays a peer dependency of the types too. */
interface PgQueryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** Wraps a `pg` `Client`/`PoolClient` (or anything with pg's `query(text, values)`) as a {@link SqlExecutor}. */
export function pgExecutor(client: PgQueryable): SqlExecutor {
  return {
    async query<Row>(text: string, values?: unknown[]) {
      const result = await client.query(text, values);
      return { rows: result.rows as Row[] };
    },
  };
}

/**
 * Runs a statement as a named (prepared) statement when `executor` is a `pg` client or pool, so
 * PostgreSQL parses and plans it once per connection; any other executor gets plain text.
 * `name` must be unique per statement text.
 */
export async function queryNamed<Row>(executor: SqlExecutor, name: string, text: string, values: unknown[]): Promise<Row[]> {
  if (isPg(executor)) {
    const result = await (executor as unknown as PgConfigQueryable).query({ name, text, values });
    return result.rows as Row[];
  }
  return (await executor.query<Row>(text, values)).rows;
}

interface PgConfigQueryable {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
}

/** A `pg` Client/PoolClient (has connectionParameters) or Pool (has totalCount): they accept query configs. */
function isPg(executor: object): boolean {
  return 'connectionParameters' in executor || ('totalCount' in executor && 'idleCount' in executor);
}

/**
 * Checks a client out of the pool with an `error` listener for as long as it is out. `pg` only
 * listens for errors on idle clients: a connection terminated by the server while checked out
 * (between two queries) would otherwise emit an unhandled `error` and crash the process. The
 * error is remembered and the client is destroyed, not reused, on release.
 */
export async function checkout(pool: pg.Pool): Promise<pg.PoolClient> {
  const client = await pool.connect();
  let lost: Error | undefined;
  const onError = (error: Error) => {
    lost = error;
  };
  client.on('error', onError);
  const release = client.release.bind(client);
  client.release = (destroy?: Error | boolean) => {
    client.removeListener('error', onError);
    return release(destroy || lost);
  };
  return client;
}

const GUARDED = Symbol('herald.guardedPool');

/**
 * Gives every connection the pool opens from now on a permanent `error` listener. A server that
 * terminates a backend makes `pg` emit `error` on its client; on a client nobody listens to at
 * that instant, that would crash the process. The failure still reaches whoever uses the client
 * (its next query fails, and the pool drops it). Idempotent per pool.
 */
export function guardPool(pool: pg.Pool): void {
  const marked = pool as pg.Pool & { [GUARDED]?: true };
  if (marked[GUARDED]) return;
  marked[GUARDED] = true;
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
}
