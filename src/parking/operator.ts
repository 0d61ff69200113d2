import type pg from 'pg';
import { InvalidArgumentError, NotParkedError, ParkedEventBusyError } from '../errors.js';
import { validateSubscriptionName } from '../sql/identifiers.js';
import { type ParkedFilter, filterClause } from './filter.js';
import { awaitRequest, pageLimit, requireReason } from './requests.js';
import type { AttemptRecord, ParkedStatus } from './store.js';
import { notify } from '../runtime/notifications.js';

/** A parked (or waiting, or resolved) event as operators see it. */
export interface ParkedEvent {
  readonly subscription: string;
  readonly eventNumber: number;
  readonly eventId: string;
  readonly streamId: string;
  readonly streamVersion: number;
  readonly eventType: string;
  readonly status: ParkedStatus;
  /** When the next automatic retry is due (status `scheduled`). */
  readonly retryAt: Date | null;
  readonly error: { readonly type: string | null; readonly message: string | null; readonly stack: string | null };
  /** Groups similar failures: error type + first application stack frame + event type. */
  readonly fingerprint: string | null;
  readonly attempts: readonly AttemptRecord[];
  readonly firstFailedAt: Date | null;
  readonly lastFailedAt: Date | null;
  readonly parkedAt: Date;
  /** Why it was parked or skipped. */
  readonly reason: string | null;
  readonly resolvedAt: Date | null;
}

/** How an operator's retry ended, when waited for. */
export interface RetryOutcome {
  /** `retried`: handled; `parked`/`scheduled`: failed again; `requested`: not picked up within the wait. */
  readonly status: 'retried' | 'parked' | 'scheduled' | 'skipped' | 'requested';
  readonly error: string | null;
}

/** A row of `parked_events` as `pg` returns it. */
export interface ParkedEventRow {
  subscription: string;
  event_number: string;
  event_id: string;
  stream_id: string;
  stream_version: string;
  event_type: string;
  status: ParkedStatus;
  retry_at: Date | null;
  error_type: string | null;
  error_message: string | null;
  error_stack: string | null;
  fingerprint: string | null;
  attempts: AttemptRecord[];
  first_failed_at: Date | null;
  last_failed_at: Date | null;
  parked_at: Date;
  reason: string | null;
  resolved_at: Date | null;
}

/**
 * The operator's view of parked events: list and filter them, retry or skip one or all that match.
 * Retries and skips are requests: the subscription's runner (in whichever process holds its
 * lease) carries them out, in stream order, and never alongside its own automatic retry. A
 * second request for an event already being retried fails with {@link ParkedEventBusyError}.
 */
export class ParkedEvents {
  private readonly table: string;

  constructor(
    private readonly pool: pg.Pool,
    quotedSchema: string,
    private readonly channel: string,
  ) {
    this.table = `${quotedSchema}.parked_events`;
  }

  /** Parked events matching `filter`, oldest event first. */
  async list(filter: ParkedFilter = {}, page: { limit?: number; afterEventNumber?: number } = {}): Promise<ParkedEvent[]> {
    const limit = pageLimit(page.limit);
    const where = filterClause(filter, 3);
    const { rows } = await this.pool.query<ParkedEventRow>(
      `SELECT * FROM ${this.table} WHERE event_number > $1 AND ${where.sql} ORDER BY event_number, subscription LIMIT $2`,
      [page.afterEventNumber ?? 0, limit, ...where.values],
    );
    return rows.map(toParkedEvent);
  }

  /** One row of a subscription's parked events (any status), or `undefined`. */
  async get(subscription: string, eventNumber: number): Promise<ParkedEvent | undefined> {
    validateSubscriptionName(subscription);
    if (!Number.isSafeInteger(eventNumber) || eventNumber < 1) throw new InvalidArgumentError('eventNumber', 'use a whole number ≥ 1');
    const { rows } = await this.pool.query<ParkedEventRow>(`SELECT * FROM ${this.table} WHERE subscription = $1 AND event_number = $2`, [subscription, eventNumber]);
    return rows[0] ? toParkedEvent(rows[0]) : undefined;
  }

  /**
   * Asks for a retry of one parked (or scheduled) event. With `wait`, resolves once the runner
   * tried it (or after `timeoutMs` with status `requested`). Throws {@link NotParkedError} or
   * {@link ParkedEventBusyError}.
   */
  async retry(subscription: string, eventNumber: number, options: { wait?: boolean; timeoutMs?: number } = {}): Promise<RetryOutcome> {
    await this.request(subscription, eventNumber, 'retry_requested', null);
    if (!options.wait) return { status: 'requested', error: null };
    return this.awaitOutcome(subscription, eventNumber, options.timeoutMs ?? 30_000);
  }

  /** Asks to skip one parked (or scheduled) event; the events waiting behind it then go on. With `wait`, resolves once it was carried out. */
  async skip(subscription: string, eventNumber: number, reason: string, options: { wait?: boolean; timeoutMs?: number } = {}): Promise<RetryOutcome> {
    await this.request(subscription, eventNumber, 'skip_requested', requireReason(reason));
    if (!options.wait) return { status: 'requested', error: null };
    return this.awaitOutcome(subscription, eventNumber, options.timeoutMs ?? 30_000);
  }

  /** Asks for a retry of every open failed event matching `filter`; resolves to how many. */
  async retryAll(filter: ParkedFilter): Promise<number> {
    return this.requestAll(filter, 'retry_requested', null);
  }

  /** Asks to skip every open failed event matching `filter`; resolves to how many. */
  async skipAll(filter: ParkedFilter, reason: string): Promise<number> {
    return this.requestAll(filter, 'skip_requested', requireReason(reason));
  }

  /**
   * One statement: it locks the row, decides on the status it locked and returns that status. With
   * a separate look-up after a failed update, the runner could change the row in between (an
   * attempt parking it again, a takeover rescheduling it) and the error would name the wrong cause.
   * Waiting for the lock is short: the runner holds it only while it commits an outcome.
   */
  private async request(subscription: string, eventNumber: number, status: ParkedStatus, reason: string | null): Promise<void> {
    validateSubscriptionName(subscription);
    if (!Number.isSafeInteger(eventNumber) || eventNumber < 1) throw new InvalidArgumentError('eventNumber', 'use a whole number ≥ 1');
    const { rows } = await this.pool.query<{ status: ParkedStatus; requested: boolean }>(
      `WITH seen AS (
         SELECT status FROM ${this.table} WHERE subscription = $1 AND event_number = $2 FOR UPDATE
       ), requested AS (
         UPDATE ${this.table} SET status = $3, reason = coalesce($4, reason)
          WHERE subscription = $1 AND event_number = $2 AND (SELECT status FROM seen) IN ('parked', 'scheduled')
          RETURNING 1
       )
       SELECT status, EXISTS (SELECT 1 FROM requested) AS requested FROM seen`,
      [subscription, eventNumber, status, reason],
    );
    const found = rows[0];
    if (found?.requested) {
      await this.wake();
      return;
    }
    if (found?.status === 'retry_requested' || found?.status === 'retrying' || found?.status === 'skip_requested') {
      throw new ParkedEventBusyError(subscription, eventNumber, found.status);
    }
    throw new NotParkedError(subscription, eventNumber, found?.status);
  }

  private async requestAll(filter: ParkedFilter, status: ParkedStatus, reason: string | null): Promise<number> {
    const where = filterClause({ ...filter, status: ['parked', 'scheduled'] }, 3);
    const { rowCount } = await this.pool.query(
      `UPDATE ${this.table} SET status = $1, reason = coalesce($2, reason) WHERE ${where.sql}`,
      [status, reason, ...where.values],
    );
    if (rowCount) await this.wake();
    return rowCount ?? 0;
  }

  private async awaitOutcome(subscription: string, eventNumber: number, timeoutMs: number): Promise<RetryOutcome> {
    const settled = ['retried', 'parked', 'scheduled', 'skipped'];
    const { row, done } = await awaitRequest(
      async () =>
        (
          await this.pool.query<{ status: ParkedStatus; error_message: string | null }>(
            `SELECT status, error_message FROM ${this.table} WHERE subscription = $1 AND event_number = $2`,
            [subscription, eventNumber],
          )
        ).rows[0],
      (r) => r !== undefined && settled.includes(r.status),
      timeoutMs,
    );
    if (!done || !row) return { status: 'requested', error: null };
    return { status: row.status as RetryOutcome['status'], error: row.status === 'retried' ? null : row.error_message };
  }

  private async wake(): Promise<void> {
    await notify(this.pool, this.channel, 'event-requested');
  }
}


/** Maps a `parked_events` row (`SELECT *`) to what operators see. */
export function toParkedEvent(row: ParkedEventRow): ParkedEvent {
  return {
    subscription: row.subscription,
    eventNumber: Number(row.event_number),
    eventId: row.event_id,
    streamId: row.stream_id,
    streamVersion: Number(row.stream_version),
    eventType: row.event_type,
    status: row.status,
    retryAt: row.retry_at,
    error: { type: row.error_type, message: row.error_message, stack: row.error_stack },
    fingerprint: row.fingerprint,
    attempts: row.attempts,
    firstFailedAt: row.first_failed_at,
    lastFailedAt: row.last_failed_at,
    parkedAt: row.parked_at,
    reason: row.reason,
    resolvedAt: row.resolved_at,
  };
}
