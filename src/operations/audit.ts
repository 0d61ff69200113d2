import type pg from 'pg';
import type { SqlExecutor } from '../sql/executor.js';
import { decodeCursor, encodeCursor, pageSize } from './cursor.js';
import { text } from './filter.js';

/** One operator action as the audit log keeps it. */
export interface AuditEntry {
  readonly id: number;
  readonly at: Date;
  /** Who: the signed-in user's name (or the CLI's user). */
  readonly actor: string;
  /** What, e.g. `event.retry`, `message.skip`, `bulk.freeze`, `bulk.run`, `bulk.finish`. */
  readonly action: string;
  /** On what, e.g. `billing.charge #1234`, `action 7`. */
  readonly target: string | null;
  readonly filter: Record<string, unknown> | null;
  /** How many items it concerned, when it concerned several. */
  readonly count: number | null;
  /** `requested`, `retried`, `finished`, … or the error code it failed with. */
  readonly outcome: string;
  readonly detail: Record<string, unknown>;
}

/** What a caller records; the time and id are the database's. */
export type AuditRecord = Omit<AuditEntry, 'id' | 'at' | 'target' | 'filter' | 'count' | 'detail'> &
  Partial<Pick<AuditEntry, 'target' | 'filter' | 'count' | 'detail'>>;

interface Row {
  id: string;
  at: Date;
  actor: string;
  action: string;
  target: string | null;
  filter: Record<string, unknown> | null;
  count: number | null;
  outcome: string;
  detail: Record<string, unknown>;
}

const CURSOR_SHAPE = { id: /^[1-9]\d{0,18}$/ };

/** The audit log of one context: every operator action, newest first. */
export class AuditLog {
  private readonly table: string;

  constructor(
    private readonly pool: pg.Pool,
    quotedSchema: string,
  ) {
    this.table = `${quotedSchema}.audit_log`;
  }

  /** Records one action (through `db`, to commit with the action itself, or on the pool). */
  async record(entry: AuditRecord, db: SqlExecutor = this.pool): Promise<void> {
    await db.query(`INSERT INTO ${this.table} (actor, action, target, filter, count, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
      text('actor', entry.actor, 200),
      text('action', entry.action, 100),
      entry.target ?? null,
      entry.filter === undefined || entry.filter === null ? null : JSON.stringify(entry.filter),
      entry.count ?? null,
      text('outcome', entry.outcome, 200),
      JSON.stringify(entry.detail ?? {}),
    ]);
  }

  /**
   * A page of the log, newest first (keyset on the id). `cursor` is the `nextCursor` of the
   * previous page; `actor` and `action` narrow it. At most 200 a page (default 50).
   */
  async list(query: { actor?: string; action?: string } = {}, page: { cursor?: string; limit?: number } = {}): Promise<{ entries: AuditEntry[]; nextCursor: string | null }> {
    const limit = pageSize(page.limit, 50, 200);
    const scope = { audit: 1, actor: query.actor ?? null, action: query.action ?? null };
    const after = page.cursor === undefined ? null : decodeCursor(page.cursor, scope, CURSOR_SHAPE).id!;
    const { rows } = await this.pool.query<Row>(
      `SELECT id, at, actor, action, target, filter, count, outcome, detail FROM ${this.table}
        WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR actor = $2) AND ($3::text IS NULL OR action = $3)
        ORDER BY id DESC LIMIT $4`,
      [after, query.actor === undefined ? null : text('actor', query.actor, 200), query.action === undefined ? null : text('action', query.action, 100), limit + 1],
    );
    const entries = rows.slice(0, limit).map((r) => ({ ...r, id: Number(r.id) }));
    const last = entries[entries.length - 1];
    return { entries, nextCursor: rows.length > limit && last ? encodeCursor(scope, { id: String(last.id) }) : null };
  }
}
