import type pg from 'pg';
import { InvalidArgumentError } from '../errors.js';
import { decodeCursor, encodeCursor, pageSize } from '../operations/cursor.js';
import { pageLimit } from '../parking/requests.js';
import { validateSubscriptionName } from '../sql/identifiers.js';

/** Where an instance is: running (`active`), or finished one way or the other. */
export const SAGA_STATUSES = ['active', 'completed', 'compensated'] as const;
export type SagaStatus = (typeof SAGA_STATUSES)[number];

/** Checks a status filter; anything else is an `InvalidArgumentError`. */
export function sagaStatus(value: unknown): SagaStatus {
  if (!(SAGA_STATUSES as readonly unknown[]).includes(value)) throw new InvalidArgumentError('status', `${JSON.stringify(value)}; use ${SAGA_STATUSES.join(', ')}`);
  return value as SagaStatus;
}

/** A page cursor holds the last row's saga name (≤ 200 characters) and key (≤ 500): longer than the default. */
const CURSOR_SHAPE = { saga: /^[\s\S]{1,200}$/, key: /^[\s\S]{1,500}$/ };
const MAX_CURSOR_LENGTH = 2000;

/** A saga instance as operators see it. */
export interface SagaInstance {
  readonly saga: string;
  readonly key: string;
  readonly status: SagaStatus;
  readonly state: unknown;
  readonly steps: readonly string[];
  readonly version: number;
  readonly reason: string | null;
  readonly startedAt: Date;
  readonly updatedAt: Date;
  readonly finishedAt: Date | null;
  /** Timeouts not fired yet. */
  readonly timeouts: readonly { readonly name: string; readonly dueAt: Date; readonly data: unknown }[];
}

/** An event a saga was interested in that found no active instance. */
export interface UnmatchedSagaEvent {
  readonly saga: string;
  readonly eventNumber: number;
  readonly eventId: string;
  readonly eventType: string;
  readonly key: string;
  readonly reason: string;
  readonly at: Date;
}

/** Read-only views of a log's sagas: instances with their pending timeouts, and unmatched events. */
export class SagaInspector {
  constructor(
    private readonly pool: pg.Pool,
    private readonly quotedSchema: string,
  ) {}

  /** Every saga with instances in this log, with counts by status. */
  async sagas(): Promise<{ saga: string; active: number; completed: number; compensated: number; timeouts: number; unmatched: number }[]> {
    const s = this.quotedSchema;
    const { rows } = await this.pool.query(
      `SELECT n.saga,
              count(*) FILTER (WHERE i.status = 'active')::int AS active,
              count(*) FILTER (WHERE i.status = 'completed')::int AS completed,
              count(*) FILTER (WHERE i.status = 'compensated')::int AS compensated,
              (SELECT count(*)::int FROM ${s}.saga_timeouts t WHERE t.saga = n.saga) AS timeouts,
              (SELECT count(*)::int FROM ${s}.saga_unmatched u WHERE u.saga = n.saga) AS unmatched
         FROM (SELECT saga FROM ${s}.saga_instances UNION SELECT saga FROM ${s}.saga_unmatched) n
         LEFT JOIN ${s}.saga_instances i ON i.saga = n.saga
        GROUP BY n.saga ORDER BY n.saga`,
    );
    return rows;
  }

  /**
   * Whether this log has the saga tables (schema v10 on): a schema migrated before them has no
   * sagas to show, rather than an error.
   */
  async available(): Promise<boolean> {
    const { rows } = await this.pool.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [`${this.quotedSchema}.saga_instances`]);
    return rows[0]?.ok === true;
  }

  /** Instances of `saga` (by key), optionally by status; keyset pages after `afterKey`. */
  async list(saga: string, options: { status?: SagaStatus; limit?: number; afterKey?: string } = {}): Promise<SagaInstance[]> {
    const status = options.status === undefined ? null : sagaStatus(options.status);
    return this.select('i.saga = $1 AND ($2::text IS NULL OR i.status = $2) AND ($3::text IS NULL OR i.key > $3)', [saga, status, options.afterKey ?? null], pageLimit(options.limit));
  }

  /**
   * A page of the instances of every saga (or of `saga`), by saga name and key, optionally by
   * status. `cursor` is the `nextCursor` of the previous page (of the same query). At most 200 a
   * page (default 50).
   */
  async page(query: { saga?: string; status?: SagaStatus } = {}, page: { cursor?: string; limit?: number } = {}): Promise<{ instances: SagaInstance[]; nextCursor: string | null }> {
    const saga = query.saga === undefined ? null : validateSubscriptionName(query.saga);
    const status = query.status === undefined ? null : sagaStatus(query.status);
    const limit = pageSize(page.limit, 50, 200);
    const scope = { sagas: 1, saga, status };
    const after = page.cursor === undefined ? null : decodeCursor(page.cursor, scope, CURSOR_SHAPE, MAX_CURSOR_LENGTH);
    const rows = await this.select(
      '($1::text IS NULL OR i.saga = $1) AND ($2::text IS NULL OR i.status = $2) AND ($3::text IS NULL OR (i.saga, i.key) > ($3::text, $4::text))',
      [saga, status, after?.saga ?? null, after?.key ?? null],
      limit + 1,
    );
    const instances = rows.slice(0, limit);
    const last = instances[instances.length - 1];
    return { instances, nextCursor: rows.length > limit && last ? encodeCursor(scope, { saga: last.saga, key: last.key }) : null };
  }

  /** One instance, or undefined. */
  async get(saga: string, key: string): Promise<SagaInstance | undefined> {
    return (await this.select('i.saga = $1 AND i.key = $2', [saga, key], 1))[0];
  }

  /** Instances matching `condition` (on `i`, the instance), by saga and key, each with its pending timeouts. */
  private async select(condition: string, values: unknown[], limit: number): Promise<SagaInstance[]> {
    const s = this.quotedSchema;
    const { rows } = await this.pool.query(
      `SELECT i.*, coalesce((SELECT json_agg(json_build_object('name', t.name, 'dueAt', t.due_at, 'data', t.data) ORDER BY t.due_at)
                               FROM ${s}.saga_timeouts t WHERE t.saga = i.saga AND t.key = i.key), '[]') AS timeouts
         FROM ${s}.saga_instances i WHERE ${condition} ORDER BY i.saga, i.key LIMIT ${limit}`,
      values,
    );
    return rows.map((r) => ({
      saga: r.saga,
      key: r.key,
      status: r.status,
      state: r.state,
      steps: r.steps,
      version: r.version,
      reason: r.reason,
      startedAt: r.started_at,
      updatedAt: r.updated_at,
      finishedAt: r.finished_at,
      timeouts: (r.timeouts as { name: string; dueAt: string; data: unknown }[]).map((t) => ({ ...t, dueAt: new Date(t.dueAt) })),
    }));
  }

  /** Events that found no active instance, newest first. */
  async unmatched(saga: string, options: { limit?: number } = {}): Promise<UnmatchedSagaEvent[]> {
    const { rows } = await this.pool.query(
      `SELECT saga, event_number, event_id, event_type, key, reason, at FROM ${this.quotedSchema}.saga_unmatched WHERE saga = $1 ORDER BY at DESC, event_number DESC LIMIT $2`,
      [saga, pageLimit(options.limit)],
    );
    return rows.map((r) => ({ saga: r.saga, eventNumber: Number(r.event_number), eventId: r.event_id, eventType: r.event_type, key: r.key, reason: r.reason, at: r.at }));
  }
}
