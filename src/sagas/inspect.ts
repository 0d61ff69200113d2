import type pg from 'pg';
import { InvalidArgumentError } from '../errors.js';
import { pageLimit } from '../parking/requests.js';

/** A saga instance as operators see it. */
export interface SagaInstance {
  readonly saga: string;
  readonly key: string;
  readonly status: 'active' | 'completed' | 'compensated';
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

  /** Instances of `saga` (by key), optionally by status; keyset pages after `afterKey`. */
  async list(saga: string, options: { status?: SagaInstance['status']; limit?: number; afterKey?: string } = {}): Promise<SagaInstance[]> {
    if (options.status !== undefined && !['active', 'completed', 'compensated'].includes(options.status)) {
      throw new InvalidArgumentError('status', `${JSON.stringify(options.status)}; use active, completed or compensated`);
    }
    return this.select('($2::text IS NULL OR i.status = $2) AND ($3::text IS NULL OR i.key > $3)', [saga, options.status ?? null, options.afterKey ?? null], pageLimit(options.limit));
  }

  /** One instance, or undefined. */
  async get(saga: string, key: string): Promise<SagaInstance | undefined> {
    return (await this.select('i.key = $2', [saga, key], 1))[0];
  }

  private async select(condition: string, values: unknown[], limit: number): Promise<SagaInstance[]> {
    const s = this.quotedSchema;
    const { rows } = await this.pool.query(
      `SELECT i.*, coalesce((SELECT json_agg(json_build_object('name', t.name, 'dueAt', t.due_at, 'data', t.data) ORDER BY t.due_at)
                               FROM ${s}.saga_timeouts t WHERE t.saga = i.saga AND t.key = i.key), '[]') AS timeouts
         FROM ${s}.saga_instances i WHERE i.saga = $1 AND ${condition} ORDER BY i.key LIMIT ${limit}`,
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
