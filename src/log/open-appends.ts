import type { SqlExecutor } from '../sql/executor.js';

/**
 * A database session whose transaction appended to this log and has not ended yet. Its events
 * stay invisible (and unsequenced) until it commits, and it holds the lock of every stream it
 * appended to, so other appends to those streams wait behind it.
 *
 * `state`, `transactionStartedAt` and `ageMs` are null when the querying role may not see the
 * session's activity (another role's session without `pg_read_all_stats`).
 */
export interface OpenAppend {
  readonly pid: number;
  /** `pg_stat_activity.state`: `'idle in transaction'` for a transaction waiting on its application. */
  readonly state: string | null;
  readonly transactionStartedAt: Date | null;
  readonly ageMs: number | null;
  readonly applicationName: string | null;
}

interface Row {
  pid: number;
  state: string | null;
  xact_start: Date | null;
  age_ms: number | null;
  application_name: string | null;
}

/**
 * Sessions holding one of this context's append locks, oldest transaction first, without the
 * querying session. The locks are the ones `append_events()` takes:
 * `pg_advisory_xact_lock(hashtext('herald:' || context), hashtext(stream))`, which `pg_locks` shows
 * with `objsubid = 2` and the first key in `classid`. `classid` is an unsigned `oid` while
 * `hashtext` is a signed `int4`; the `int4 → oid` cast wraps negative keys the same way.
 */
export async function readOpenAppends(executor: SqlExecutor, context: string): Promise<OpenAppend[]> {
  const { rows } = await executor.query<Row>(
    `SELECT l.pid, a.state, a.xact_start, a.application_name,
            (extract(epoch FROM clock_timestamp() - a.xact_start) * 1000)::float8 AS age_ms
       FROM (SELECT DISTINCT pid FROM pg_locks
              WHERE locktype = 'advisory' AND granted AND objsubid = 2
                AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                AND classid = hashtext('herald:' || $1)::oid
                AND pid <> pg_backend_pid()) AS l
       LEFT JOIN pg_stat_activity a ON a.pid = l.pid
      ORDER BY a.xact_start NULLS LAST, l.pid`,
    [context],
  );
  return rows.map((row) => ({
    pid: row.pid,
    state: row.state,
    transactionStartedAt: row.xact_start,
    ageMs: row.age_ms === null ? null : Math.max(0, Math.round(row.age_ms)),
    applicationName: row.application_name || null,
  }));
}
