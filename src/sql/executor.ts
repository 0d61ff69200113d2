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
