import type pg from 'pg';
import { quoteIdent } from '../sql/identifiers.js';
import type { OutboxTableSettings } from './options.js';

/** What an outbox table still has to relay. */
export interface OutboxBacklog {
  /** Rows not dispatched yet (`dispatched_at IS NULL`). */
  readonly undispatched: number;
  /** The earliest `occurred_at` among them: how far behind the relay is (null when none wait). */
  readonly oldestUndispatchedAt: Date | null;
}

/** Reads an outbox table's backlog; needs no relay running (the CLI's `herald status` uses it). */
export async function readBacklog(pool: pg.Pool, table: OutboxTableSettings): Promise<OutboxBacklog> {
  const { rows } = await pool.query<{ n: string; oldest: Date | null }>(
    `SELECT count(*)::text AS n, min(${quoteIdent(table.columns.occurredAt)}) AS oldest
       FROM ${table.qualified} WHERE ${quoteIdent(table.columns.dispatchedAt)} IS NULL`,
  );
  return { undispatched: Number(rows[0]?.n ?? 0), oldestUndispatchedAt: rows[0]?.oldest ?? null };
}
