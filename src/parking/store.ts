import type { RecordedEvent } from '../events/types.js';
import type { AttemptRecord } from '../handlers/failure.js';
import { HISTORY_LIMIT } from '../handlers/failure.js';
import type { ErrorSummary } from '../handlers/policy.js';
import type { SqlExecutor } from '../sql/executor.js';

/**
 * Lifecycle of a row in `parked_events`:
 * - `waiting`: not failed itself; queued behind a failed event of the same stream;
 * - `scheduled`: failed, an automatic retry is due at `retry_at`;
 * - `parked`: failed, waits for an operator;
 * - `retry_requested` / `skip_requested`: an operator asked; the subscription's runner will do it;
 * - `retrying`: the runner is attempting it right now;
 * - `retried` / `skipped`: resolved, kept as history.
 */
export type ParkedStatus = 'waiting' | 'scheduled' | 'parked' | 'retry_requested' | 'skip_requested' | 'retrying' | 'retried' | 'skipped';

export type { AttemptRecord } from '../handlers/failure.js';

/** What is stored about a failure when an event is scheduled, parked or skipped. */
export interface FailureRecord {
  readonly status: 'scheduled' | 'parked' | 'skipped';
  readonly retryAt: Date | null;
  readonly error: ErrorSummary;
  readonly fingerprint: string;
  readonly attempts: readonly AttemptRecord[];
  /** Failed attempts in all (the history keeps the latest {@link HISTORY_LIMIT}). */
  readonly attemptCount: number;
  readonly failureContext: Record<string, unknown>;
  readonly firstFailedAt: Date;
  readonly lastFailedAt: Date;
  readonly reason: string | null;
}

/** A row of `parked_events` as the runner needs it. */
export interface ParkedRow {
  event_number: string;
  stream_id: string;
  status: ParkedStatus;
  attempts: AttemptRecord[];
  attempt_count: number;
  failure_context: Record<string, unknown>;
  first_failed_at: Date | null;
  reason: string | null;
}


/** SQL for one subscription's parked events. Every value is a parameter. */
export class ParkingStore {
  private readonly table: string;
  private readonly subscriptions: string;

  constructor(
    quotedSchema: string,
    readonly subscription: string,
  ) {
    this.table = `${quotedSchema}.parked_events`;
    this.subscriptions = `${quotedSchema}.subscriptions`;
  }

  /** Streams blocked for this subscription: any open head or waiting event. */
  async blockedStreams(db: SqlExecutor): Promise<Set<string>> {
    const { rows } = await db.query<{ stream_id: string }>(
      `SELECT DISTINCT stream_id FROM ${this.table} WHERE subscription = $1 AND status NOT IN ('retried', 'skipped')`,
      [this.subscription],
    );
    return new Set(rows.map((r) => r.stream_id));
  }

  /** Queues events behind their stream's failed event, in the batch's transaction. */
  async deferBehind(tx: SqlExecutor, events: readonly RecordedEvent[]): Promise<void> {
    if (events.length === 0) return;
    await tx.query(
      `INSERT INTO ${this.table} (subscription, event_number, event_id, stream_id, stream_version, event_type, status)
       SELECT $1, n, id, s, v, t, 'waiting'
         FROM unnest($2::bigint[], $3::uuid[], $4::text[], $5::bigint[], $6::text[]) AS u(n, id, s, v, t)
       ON CONFLICT (subscription, event_number) DO NOTHING`,
      [
        this.subscription,
        events.map((e) => e.metadata.eventNumber),
        events.map((e) => e.metadata.eventId),
        events.map((e) => e.metadata.streamId),
        events.map((e) => e.metadata.streamVersion),
        events.map((e) => e.type),
      ],
    );
  }

  /** Records a failed event as scheduled, parked or skipped (a waiting row becomes the head). */
  async recordFailure(tx: SqlExecutor, event: RecordedEvent, failure: FailureRecord): Promise<void> {
    const m = event.metadata;
    await tx.query(
      `INSERT INTO ${this.table} AS p (subscription, event_number, event_id, stream_id, stream_version, event_type, status, retry_at,
              error_type, error_message, error_stack, fingerprint, attempts, failure_context, first_failed_at, last_failed_at, reason,
              resolved_at, attempt_count)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, CASE WHEN $7 = 'skipped' THEN now() END, $18)
       ON CONFLICT (subscription, event_number) DO UPDATE SET
         status = EXCLUDED.status, retry_at = EXCLUDED.retry_at, error_type = EXCLUDED.error_type,
         error_message = EXCLUDED.error_message, error_stack = EXCLUDED.error_stack, fingerprint = EXCLUDED.fingerprint,
         attempts = EXCLUDED.attempts, failure_context = EXCLUDED.failure_context, first_failed_at = EXCLUDED.first_failed_at,
         last_failed_at = EXCLUDED.last_failed_at, reason = EXCLUDED.reason, resolved_at = EXCLUDED.resolved_at,
         attempt_count = EXCLUDED.attempt_count,
         parked_at = CASE WHEN p.status = 'waiting' THEN now() ELSE p.parked_at END
       -- Only an event in hand: never reopen one an earlier attempt resolved.
       WHERE p.status IN ('waiting', 'retrying')`,
      [
        this.subscription,
        m.eventNumber,
        m.eventId,
        m.streamId,
        m.streamVersion,
        event.type,
        failure.status,
        failure.retryAt,
        failure.error.type,
        failure.error.message,
        failure.error.stack,
        failure.fingerprint,
        JSON.stringify(failure.attempts.slice(-HISTORY_LIMIT)),
        JSON.stringify(failure.failureContext),
        failure.firstFailedAt,
        failure.lastFailedAt,
        failure.reason,
        failure.attemptCount,
      ],
    );
  }

  /** A head that succeeded on retry: kept as history. A waiting event that was handled: removed. */
  async resolve(tx: SqlExecutor, eventNumber: number, wasWaiting: boolean): Promise<void> {
    if (wasWaiting) {
      await tx.query(`DELETE FROM ${this.table} WHERE subscription = $1 AND event_number = $2`, [this.subscription, eventNumber]);
      return;
    }
    await tx.query(
      `UPDATE ${this.table} SET status = 'retried', resolved_at = now(), retry_at = NULL WHERE subscription = $1 AND event_number = $2`,
      [this.subscription, eventNumber],
    );
  }

  /** An operator's skip carried out, if still requested: kept as history. */
  async markSkipped(tx: SqlExecutor, eventNumber: number): Promise<boolean> {
    const { rows } = await tx.query(
      `UPDATE ${this.table} SET status = 'skipped', resolved_at = now(), retry_at = NULL
        WHERE subscription = $1 AND event_number = $2 AND status = 'skip_requested' RETURNING 1`,
      [this.subscription, eventNumber],
    );
    return rows.length === 1;
  }

  /** Heads with work to do now: operator requests, and automatic retries that are due. */
  async dueHeads(db: SqlExecutor): Promise<ParkedRow[]> {
    const { rows } = await db.query<ParkedRow>(
      `SELECT event_number, stream_id, status, attempts, attempt_count, failure_context, first_failed_at, reason FROM ${this.table}
        WHERE subscription = $1
          AND (status IN ('retry_requested', 'skip_requested') OR (status = 'scheduled' AND retry_at <= now()))
        ORDER BY event_number LIMIT 100`,
      [this.subscription],
    );
    return rows;
  }

  /** Milliseconds until the next automatic retry, if one is scheduled. */
  async msUntilNextRetry(db: SqlExecutor): Promise<number | undefined> {
    const { rows } = await db.query<{ ms: number | null }>(
      `SELECT extract(epoch FROM min(retry_at) - now()) * 1000 AS ms FROM ${this.table} WHERE subscription = $1 AND status = 'scheduled'`,
      [this.subscription],
    );
    const ms = rows[0]?.ms;
    return ms === null || ms === undefined ? undefined : Math.max(0, Number(ms));
  }

  /**
   * Claims a head for an attempt; false if its status changed meanwhile, or `owner` no longer holds
   * the lease (the share lock makes a takeover wait for the claim, so its repair sees it).
   */
  async claim(db: SqlExecutor, eventNumber: number, from: ParkedStatus, owner: string): Promise<boolean> {
    const { rows } = await db.query(
      `UPDATE ${this.table} SET status = 'retrying'
        WHERE subscription = $1 AND event_number = $2 AND status = $3
          AND EXISTS (SELECT 1 FROM ${this.subscriptions} WHERE name = $1 AND lease_owner = $4 FOR SHARE)
        RETURNING 1`,
      [this.subscription, eventNumber, from, owner],
    );
    return rows.length === 1;
  }

  /** Streams whose first open row is a waiting event: the failure before it was resolved but the stream was not released. */
  async orphanedStreams(db: SqlExecutor): Promise<string[]> {
    const { rows } = await db.query<{ stream_id: string }>(
      `SELECT stream_id FROM (
         SELECT DISTINCT ON (stream_id) stream_id, status FROM ${this.table}
          WHERE subscription = $1 AND status NOT IN ('retried', 'skipped')
          ORDER BY stream_id, stream_version) AS first_open
        WHERE status = 'waiting'`,
      [this.subscription],
    );
    return rows.map((r) => r.stream_id);
  }

  /** After a takeover: an attempt the dead holder had in hand is due again. */
  async releaseAbandonedClaims(db: SqlExecutor): Promise<void> {
    await db.query(`UPDATE ${this.table} SET status = 'scheduled', retry_at = now() WHERE subscription = $1 AND status = 'retrying'`, [
      this.subscription,
    ]);
  }

  /** The next event waiting behind a resolved head, in stream order. */
  async nextWaiting(db: SqlExecutor, streamId: string): Promise<ParkedRow | undefined> {
    const { rows } = await db.query<ParkedRow>(
      `SELECT event_number, stream_id, status, attempts, attempt_count, failure_context, first_failed_at, reason FROM ${this.table}
        WHERE subscription = $1 AND stream_id = $2 AND status NOT IN ('retried', 'skipped')
        ORDER BY stream_version LIMIT 1`,
      [this.subscription, streamId],
    );
    return rows[0];
  }
}
