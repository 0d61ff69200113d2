import type pg from 'pg';
import { ConsumerMessageBusyError, ConsumerMessageNotParkedError, InvalidArgumentError } from '../errors.js';
import type { AttemptRecord } from '../handlers/failure.js';
import { buildFilter, type FilterShape } from '../parking/filter.js';
import { awaitRequest, pageLimit, requireReason } from '../parking/requests.js';
import { validateSubscriptionName } from '../sql/identifiers.js';
import type { ConsumerMessageStatus } from './stored.js';
import { notify } from '../runtime/notifications.js';

/** Which stored consumer messages an operator means. Every field narrows; none means "all that wait for an operator or a retry". */
export interface MessageFilter {
  readonly consumer?: string;
  readonly eventType?: string;
  readonly streamId?: string;
  readonly fingerprint?: string;
  /** Default: parked, scheduled, and those with a request pending. */
  readonly status?: ConsumerMessageStatus | readonly ConsumerMessageStatus[];
  /** Received at or after. */
  readonly since?: Date;
  /** Received before. */
  readonly until?: Date;
}

/** Names one stored message: message keys are unique per consumer. */
export interface MessageRef {
  readonly consumer: string;
  readonly key: string;
}

/** A stored consumer message as operators see it. */
export interface ParkedMessage {
  readonly consumer: string;
  readonly key: string;
  readonly source: string | null;
  readonly streamId: string | null;
  readonly streamVersion: number | null;
  readonly eventNumber: number | null;
  readonly eventType: string | null;
  readonly status: ConsumerMessageStatus;
  readonly brokerId: string | null;
  /** Why it is parked or was skipped. */
  readonly reason: string | null;
  readonly error: { readonly type: string | null; readonly message: string | null; readonly stack: string | null };
  readonly fingerprint: string | null;
  /** Failed attempts so far, and the latest of them. */
  readonly attemptCount: number;
  readonly attempts: readonly AttemptRecord[];
  /** When the next automatic retry is due (status `scheduled`). */
  readonly retryAt: Date | null;
  readonly firstFailedAt: Date | null;
  readonly lastFailedAt: Date | null;
  readonly receivedAt: Date;
  readonly parkedAt: Date | null;
  readonly resolvedAt: Date | null;
  /** The raw message as received, when it is UTF-8 text. */
  readonly body: string | null;
}

/** How an operator's request ended, when waited for. `requested`: not carried out within the wait. */
export interface MessageRequestOutcome {
  readonly status: 'retried' | 'skipped' | 'parked' | 'scheduled' | 'held' | 'requested';
  readonly reason: string | null;
  /** The latest error, when it failed again. */
  readonly error: string | null;
}

const SHAPE: FilterShape = {
  columns: { consumer: 'consumer', eventType: 'event_type', streamId: 'stream_id', fingerprint: 'fingerprint' },
  statuses: ['held', 'scheduled', 'parked', 'retry_requested', 'skip_requested', 'retried', 'skipped'],
  open: ['scheduled', 'parked', 'retry_requested', 'skip_requested'],
  timeColumn: 'received_at',
};

/**
 * The operator's view of the messages this context's consumers stored: list them, retry or skip
 * one or all that match. Retries and skips are requests written to the database: whichever
 * process runs the consumer carries them out, under the stream's row lock, so nothing runs twice
 * at once, and this works from a process that runs no consumer at all.
 */
export class ParkedMessages {
  private readonly table: string;

  constructor(
    private readonly pool: pg.Pool,
    quotedSchema: string,
    private readonly channel: string,
  ) {
    this.table = `${quotedSchema}.consumer_messages`;
  }

  /** Stored messages matching `filter`, oldest first; `after` is the last message of the previous page. */
  async list(filter: MessageFilter = {}, page: { limit?: number; after?: MessageRef } = {}): Promise<ParkedMessage[]> {
    const limit = pageLimit(page.limit);
    const after = page.after;
    if (after !== undefined && (typeof after?.consumer !== 'string' || typeof after.key !== 'string')) throw new InvalidArgumentError('after', 'must be { consumer, key } of a listed message');
    const where = buildFilter(filter as Record<string, unknown>, 4, SHAPE);
    const { rows } = await this.pool.query<ConsumerMessageRow>(
      `SELECT * FROM ${this.table}
        WHERE ($1::text IS NULL OR (received_at, consumer, message_key) >
               (SELECT received_at, consumer, message_key FROM ${this.table} WHERE consumer = $1 AND message_key = $2))
          AND ${where.sql}
        ORDER BY received_at, consumer, message_key LIMIT $3`,
      [after?.consumer ?? null, after?.key ?? null, limit, ...where.values],
    );
    return rows.map(toParkedMessage);
  }

  /** One stored message (any status), or `undefined`. */
  async get(consumer: string, key: string): Promise<ParkedMessage | undefined> {
    validateSubscriptionName(consumer);
    if (typeof key !== 'string' || key.length === 0 || key.length > 500) throw new InvalidArgumentError('key', 'must be a message key');
    const { rows } = await this.pool.query<ConsumerMessageRow>(`SELECT * FROM ${this.table} WHERE consumer = $1 AND message_key = $2`, [consumer, key]);
    return rows[0] ? toParkedMessage(rows[0]) : undefined;
  }

  /** Asks for a retry of a parked (or scheduled) message; with `wait`, resolves once a consumer tried it. */
  async retry(consumer: string, key: string, options: { wait?: boolean; timeoutMs?: number } = {}): Promise<MessageRequestOutcome> {
    await this.request(consumer, key, 'retry_requested', null);
    return options.wait ? this.awaitOutcome(consumer, key, options.timeoutMs ?? 30_000) : { status: 'requested', reason: null, error: null };
  }

  /** Asks to skip a parked (or scheduled) message: its stream moves past it, and later versions follow. */
  async skip(consumer: string, key: string, reason: string, options: { wait?: boolean; timeoutMs?: number } = {}): Promise<MessageRequestOutcome> {
    await this.request(consumer, key, 'skip_requested', requireReason(reason));
    return options.wait ? this.awaitOutcome(consumer, key, options.timeoutMs ?? 30_000) : { status: 'requested', reason, error: null };
  }

  /** Asks for a retry of every parked or scheduled message matching `filter`; resolves to how many. */
  retryAll(filter: MessageFilter): Promise<number> {
    return this.requestAll(filter, 'retry_requested', null);
  }

  /** Asks to skip every parked or scheduled message matching `filter`; resolves to how many. */
  skipAll(filter: MessageFilter, reason: string): Promise<number> {
    return this.requestAll(filter, 'skip_requested', requireReason(reason));
  }

  /** One statement that locks the row, decides on the status it locked and reports it (no race with a second look-up). */
  private async request(consumer: string, key: string, status: ConsumerMessageStatus, reason: string | null): Promise<void> {
    validateSubscriptionName(consumer);
    if (typeof key !== 'string' || key.length === 0 || key.length > 500) throw new InvalidArgumentError('key', 'must be a message key');
    const { rows } = await this.pool.query<{ status: ConsumerMessageStatus; requested: boolean }>(
      `WITH seen AS (
         SELECT status FROM ${this.table} WHERE consumer = $1 AND message_key = $2 FOR UPDATE
       ), requested AS (
         UPDATE ${this.table} SET status = $3, reason = coalesce($4, reason)
          WHERE consumer = $1 AND message_key = $2 AND (SELECT status FROM seen) IN ('parked', 'scheduled')
          RETURNING 1
       )
       SELECT status, EXISTS (SELECT 1 FROM requested) AS requested FROM seen`,
      [consumer, key, status, reason],
    );
    const found = rows[0];
    if (found?.requested) return this.wake();
    if (found?.status === 'retry_requested' || found?.status === 'skip_requested') throw new ConsumerMessageBusyError(consumer, key, found.status);
    throw new ConsumerMessageNotParkedError(consumer, key, found?.status);
  }

  private async requestAll(filter: MessageFilter, status: ConsumerMessageStatus, reason: string | null): Promise<number> {
    const where = buildFilter({ ...filter, status: ['parked', 'scheduled'] }, 3, SHAPE);
    const { rowCount } = await this.pool.query(`UPDATE ${this.table} SET status = $1, reason = coalesce($2, reason) WHERE ${where.sql}`, [
      status,
      reason,
      ...where.values,
    ]);
    if (rowCount) await this.wake();
    return rowCount ?? 0;
  }

  private async awaitOutcome(consumer: string, key: string, timeoutMs: number): Promise<MessageRequestOutcome> {
    const { row, done } = await awaitRequest(
      async () =>
        (
          await this.pool.query<{ status: ConsumerMessageStatus; reason: string | null; error_message: string | null }>(
            `SELECT status, reason, error_message FROM ${this.table} WHERE consumer = $1 AND message_key = $2`,
            [consumer, key],
          )
        ).rows[0],
      (r) => r === undefined || (r.status !== 'retry_requested' && r.status !== 'skip_requested'),
      timeoutMs,
    );
    if (!row) return { status: 'retried', reason: null, error: null }; // a held row that was handled is deleted
    if (!done) return { status: 'requested', reason: row.reason, error: null };
    const status = row.status as Exclude<ConsumerMessageStatus, 'retry_requested' | 'skip_requested'>;
    return { status, reason: row.reason, error: status === 'retried' || status === 'skipped' ? null : row.error_message };
  }

  private async wake(): Promise<void> {
    await notify(this.pool, this.channel, 'message-requested');
  }
}


/** A row of `consumer_messages` as `pg` returns it. */
export interface ConsumerMessageRow {
  consumer: string;
  message_key: string;
  source: string | null;
  stream_id: string | null;
  stream_version: string | null;
  event_number: string | null;
  event_type: string | null;
  status: ConsumerMessageStatus;
  broker_id: string | null;
  reason: string | null;
  error_type: string | null;
  error_message: string | null;
  error_stack: string | null;
  fingerprint: string | null;
  attempts: number;
  attempt_history: AttemptRecord[];
  retry_at: Date | null;
  first_failed_at: Date | null;
  last_failed_at: Date | null;
  received_at: Date;
  parked_at: Date | null;
  resolved_at: Date | null;
  body: Buffer;
}

/** Maps a `consumer_messages` row (`SELECT *`) to what operators see. */
export function toParkedMessage(row: ConsumerMessageRow): ParkedMessage {
  const text = row.body.toString('utf8');
  const n = (value: string | null) => (value === null ? null : Number(value));
  return {
    consumer: row.consumer,
    key: row.message_key,
    source: row.source,
    streamId: row.stream_id,
    streamVersion: n(row.stream_version),
    eventNumber: n(row.event_number),
    eventType: row.event_type,
    status: row.status,
    brokerId: row.broker_id,
    reason: row.reason,
    error: { type: row.error_type, message: row.error_message, stack: row.error_stack },
    fingerprint: row.fingerprint,
    attemptCount: row.attempts,
    attempts: row.attempt_history,
    retryAt: row.retry_at,
    firstFailedAt: row.first_failed_at,
    lastFailedAt: row.last_failed_at,
    receivedAt: row.received_at,
    parkedAt: row.parked_at,
    resolvedAt: row.resolved_at,
    // Shown only when it is valid UTF-8 (a decoder that needed replacement characters says otherwise).
    body: Buffer.from(text, 'utf8').equals(row.body) ? text : null,
  };
}
