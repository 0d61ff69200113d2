import type { AttemptRecord, FailureHistory } from '../handlers/failure.js';
import type { ErrorSummary } from '../handlers/policy.js';
import type { SqlExecutor } from '../sql/executor.js';
import type { ReceivedEvent } from '../transports/cloudevents.js';
import { BLOCKING_STATUSES } from './streams.js';

/**
 * Lifecycle of a row in `consumer_messages`:
 * - `held`: arrived ahead of its stream's next version (or behind a failed one); replayed in order;
 * - `scheduled`: failed, an automatic retry is due at `retry_at`;
 * - `parked`: failed (or malformed, invalid, unknown, or a gap that did not close), waits for an operator;
 * - `retry_requested` / `skip_requested`: an operator asked; a process running the consumer does it;
 * - `retried` / `skipped`: resolved, kept as history.
 */
export type ConsumerMessageStatus = 'held' | 'scheduled' | 'parked' | 'retry_requested' | 'skip_requested' | 'retried' | 'skipped';

/** A stored message, as the consumer reads it back. */
export interface StoredMessage {
  readonly key: string;
  readonly status: ConsumerMessageStatus;
  readonly body: Buffer;
  readonly brokerId: string | null;
  readonly streamId: string | null;
  readonly streamVersion: number | null;
  readonly gap: boolean;
  readonly reason: string | null;
  /** When a scheduled retry is due. */
  readonly retryAt: Date | null;
  /** Whether that time has come, by the database's clock (processes' clocks may differ). */
  readonly due: boolean;
  /** How many attempts failed so far (the history keeps the latest). */
  readonly attemptCount: number;
  /** Earlier failures, for the next one's attempt number and the policy's carried context. */
  readonly history: FailureHistory | undefined;
}

/** What is stored when a message fails, is parked, or is scheduled for a retry. */
export interface FailureRecord {
  readonly status: 'scheduled' | 'parked' | 'skipped';
  readonly reason: string | null;
  readonly retryAt?: Date | null;
  readonly error?: ErrorSummary;
  readonly fingerprint?: string;
  readonly attempts?: readonly AttemptRecord[];
  readonly attemptCount: number;
  readonly failureContext?: Readonly<Record<string, unknown>>;
  readonly firstFailedAt?: Date;
  readonly lastFailedAt?: Date;
  /** Parked because earlier versions did not arrive: held again once they do. */
  readonly gap?: boolean;
}

/** SQL of one consumer's stored messages (held, failed, parked). Every value is a parameter. */
export class StoredMessages {
  private readonly messages: string;
  private readonly streams: string;
  private readonly receipts: string;

  constructor(
    schema: string,
    readonly consumer: string,
    readonly source: string,
  ) {
    this.messages = `${schema}.consumer_messages`;
    this.streams = `${schema}.consumer_streams`;
    this.receipts = `${schema}.delivery_receipts`;
  }

  /** Stores a message that arrived ahead of its turn (no-op if already stored). */
  async hold(tx: SqlExecutor, key: string, event: ReceivedEvent, body: Buffer, brokerId: string | null): Promise<void> {
    const m = event.metadata;
    await tx.query(
      `INSERT INTO ${this.messages} (consumer, message_key, source, stream_id, stream_version, event_number, event_type, status, body, broker_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'held', $8, $9) ON CONFLICT (consumer, message_key) DO NOTHING`,
      [this.consumer, key, m.source, m.streamId, m.streamVersion, m.eventNumber, event.type, body, brokerId],
    );
  }

  /** A stored message back to held: it is replayed in order with the others of its stream. */
  async backToHeld(tx: SqlExecutor, key: string): Promise<void> {
    await tx.query(`UPDATE ${this.messages} SET status = 'held', retry_at = NULL WHERE consumer = $1 AND message_key = $2`, [this.consumer, key]);
  }

  /** Stores a failure (new message, held one, or one that failed again), keeping its raw body. */
  async recordFailure(tx: SqlExecutor, key: string, event: ReceivedEvent | undefined, body: Buffer, brokerId: string | null, record: FailureRecord): Promise<void> {
    const m = event?.metadata;
    await tx.query(
      `INSERT INTO ${this.messages} AS c (consumer, message_key, source, stream_id, stream_version, event_number, event_type, status, body, broker_id,
              reason, error_type, error_message, error_stack, fingerprint, attempts, attempt_history, failure_context, first_failed_at, last_failed_at,
              retry_at, gap, parked_at, resolved_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, now(),
               CASE WHEN $8 = 'skipped' THEN now() END)
       ON CONFLICT (consumer, message_key) DO UPDATE SET
         status = EXCLUDED.status, reason = EXCLUDED.reason, error_type = coalesce(EXCLUDED.error_type, c.error_type),
         error_message = coalesce(EXCLUDED.error_message, c.error_message), error_stack = coalesce(EXCLUDED.error_stack, c.error_stack), fingerprint = coalesce(EXCLUDED.fingerprint, c.fingerprint), attempts = greatest(EXCLUDED.attempts, c.attempts),
         -- Parking for a reason of its own (a gap, an invalid payload) keeps the history of earlier failures.
         attempt_history = CASE WHEN EXCLUDED.attempt_history = '[]' THEN c.attempt_history ELSE EXCLUDED.attempt_history END,
         failure_context = CASE WHEN EXCLUDED.failure_context = '{}' THEN c.failure_context ELSE EXCLUDED.failure_context END,
         first_failed_at = coalesce(c.first_failed_at, EXCLUDED.first_failed_at), last_failed_at = EXCLUDED.last_failed_at,
         retry_at = EXCLUDED.retry_at, gap = EXCLUDED.gap, parked_at = now(), resolved_at = EXCLUDED.resolved_at`,
      [
        this.consumer,
        key,
        m?.source ?? null,
        m?.streamId ?? null,
        m?.streamVersion ?? null,
        m?.eventNumber ?? null,
        event?.type ?? null,
        record.status,
        body,
        brokerId,
        record.reason,
        record.error?.type ?? null,
        record.error?.message ?? null,
        record.error?.stack ?? null,
        record.fingerprint ?? null,
        record.attemptCount,
        JSON.stringify(record.attempts ?? []),
        JSON.stringify(record.failureContext ?? {}),
        record.firstFailedAt ?? null,
        record.lastFailedAt ?? null,
        record.retryAt ?? null,
        record.gap ?? false,
      ],
    );
  }

  /** Marks a stored message resolved without moving its stream (it was handled by another delivery). */
  async resolveStale(tx: SqlExecutor, stored: StoredMessage, reason: string): Promise<void> {
    if (stored.status === 'held') {
      await tx.query(`DELETE FROM ${this.messages} WHERE consumer = $1 AND message_key = $2 AND status = 'held'`, [this.consumer, stored.key]);
      return;
    }
    await tx.query(
      `UPDATE ${this.messages} SET status = 'skipped', resolved_at = now(), retry_at = NULL, reason = $3 WHERE consumer = $1 AND message_key = $2`,
      [this.consumer, stored.key, reason],
    );
  }

  /** Reads one stored message; `lock` takes its row lock for the rest of the transaction. */
  async read(db: SqlExecutor, key: string, lock = false): Promise<StoredMessage | undefined> {
    const { rows } = await db.query<MessageRow>(`SELECT ${COLUMNS} FROM ${this.messages} WHERE consumer = $1 AND message_key = $2${lock ? ' FOR UPDATE' : ''}`, [
      this.consumer,
      key,
    ]);
    return rows[0] && toStored(rows[0]);
  }

  /** The lowest held message of a stream. */
  async nextHeld(db: SqlExecutor, streamId: string): Promise<StoredMessage | undefined> {
    const { rows } = await db.query<MessageRow>(
      `SELECT ${COLUMNS} FROM ${this.messages}
        WHERE consumer = $1 AND source = $2 AND stream_id = $3 AND status = 'held' ORDER BY stream_version LIMIT 1`,
      [this.consumer, this.source, streamId],
    );
    return rows[0] && toStored(rows[0]);
  }

  /**
   * Messages parked for a gap whose missing versions have since been handled go back to held, to
   * be replayed in order. One stream, or all. Resolves to the streams reopened.
   */
  async reopenClosedGaps(db: SqlExecutor, streamId: string | null): Promise<string[]> {
    const { rows } = await db.query<{ stream_id: string }>(
      `UPDATE ${this.messages} m SET status = 'held', gap = false, reason = NULL, parked_at = NULL
         FROM ${this.streams} s
        WHERE m.consumer = $1 AND m.source = $2 AND ($3::text IS NULL OR m.stream_id = $3) AND m.status = 'parked' AND m.gap
          AND s.consumer = m.consumer AND s.source = m.source AND s.stream_id = m.stream_id AND m.stream_version <= s.version + 1
        RETURNING m.stream_id`,
      [this.consumer, this.source, streamId],
    );
    return [...new Set(rows.map((r) => r.stream_id))];
  }

  /** Streams with held messages: the lowest held version, how long the oldest waited, and the stream's state. */
  async heldStreams(db: SqlExecutor): Promise<HeldStream[]> {
    const { rows } = await db.query<{ stream_id: string; held: string; waited_ms: number; version: string; blocked: string | null }>(
      `SELECT h.stream_id, h.v AS held, extract(epoch FROM now() - h.oldest) * 1000 AS waited_ms, s.version,
              (SELECT min(b.stream_version) FROM ${this.messages} b
                WHERE b.consumer = $1 AND b.source = $2 AND b.stream_id = h.stream_id AND b.status = ANY($3::text[])
                  AND b.stream_version > s.version) AS blocked
         FROM (SELECT stream_id, min(stream_version) AS v, min(received_at) AS oldest
                 FROM ${this.messages} WHERE consumer = $1 AND source = $2 AND status = 'held' GROUP BY stream_id) h
         JOIN ${this.streams} s ON s.consumer = $1 AND s.source = $2 AND s.stream_id = h.stream_id
        LIMIT 1000`,
      [this.consumer, this.source, BLOCKING_STATUSES],
    );
    return rows.map((r) => ({
      streamId: r.stream_id,
      heldVersion: Number(r.held),
      waitedMs: Number(r.waited_ms),
      stream: { version: Number(r.version), blockedVersion: r.blocked === null ? null : Number(r.blocked) },
    }));
  }

  /** Rows with work to do now: operator requests, and automatic retries that are due. */
  async due(db: SqlExecutor, limit: number): Promise<{ key: string; streamId: string | null }[]> {
    const { rows } = await db.query<{ message_key: string; stream_id: string | null }>(
      `SELECT message_key, stream_id FROM ${this.messages}
        WHERE consumer = $1 AND (status IN ('retry_requested', 'skip_requested') OR (status = 'scheduled' AND retry_at <= now()))
        ORDER BY stream_id, stream_version LIMIT $2`,
      [this.consumer, limit],
    );
    return rows.map((r) => ({ key: r.message_key, streamId: r.stream_id }));
  }

  /** Milliseconds until the next automatic retry, if one is scheduled. */
  async msUntilNextRetry(db: SqlExecutor): Promise<number | undefined> {
    const { rows } = await db.query<{ ms: number | null }>(
      `SELECT extract(epoch FROM min(retry_at) - now()) * 1000 AS ms FROM ${this.messages} WHERE consumer = $1 AND status = 'scheduled'`,
      [this.consumer],
    );
    const ms = rows[0]?.ms;
    return ms === null || ms === undefined ? undefined : Math.max(0, Number(ms));
  }

  /** Counts for status. */
  async counts(db: SqlExecutor): Promise<{ held: number; scheduled: number; parked: number; receipts: number }> {
    const { rows } = await db.query<{ held: string; scheduled: string; parked: string; receipts: string }>(
      `SELECT count(*) FILTER (WHERE status = 'held') AS held,
              count(*) FILTER (WHERE status = 'scheduled') AS scheduled,
              count(*) FILTER (WHERE status IN ('parked', 'retry_requested', 'skip_requested')) AS parked,
              (SELECT count(*) FROM ${this.receipts} WHERE consumer = $1 AND source = $2) AS receipts
         FROM ${this.messages} WHERE consumer = $1 AND status NOT IN ('retried', 'skipped')`,
      [this.consumer, this.source],
    );
    const r = rows[0]!;
    return { held: Number(r.held), scheduled: Number(r.scheduled), parked: Number(r.parked), receipts: Number(r.receipts) };
  }
}

/** A stream with held messages, as the sweeper decides it. */
export interface HeldStream {
  readonly streamId: string;
  readonly heldVersion: number;
  readonly waitedMs: number;
  readonly stream: { readonly version: number; readonly blockedVersion: number | null };
}

const COLUMNS = `message_key, status, body, broker_id, stream_id, stream_version, gap, reason, retry_at, coalesce(retry_at <= now(), false) AS due, attempts, attempt_history, failure_context, first_failed_at`;

interface MessageRow {
  message_key: string;
  status: ConsumerMessageStatus;
  body: Buffer;
  broker_id: string | null;
  stream_id: string | null;
  stream_version: string | null;
  gap: boolean;
  reason: string | null;
  retry_at: Date | null;
  due: boolean;
  attempts: number;
  attempt_history: AttemptRecord[];
  failure_context: Record<string, unknown>;
  first_failed_at: Date | null;
}

function toStored(row: MessageRow): StoredMessage {
  return {
    key: row.message_key,
    status: row.status,
    body: row.body,
    brokerId: row.broker_id,
    streamId: row.stream_id,
    streamVersion: row.stream_version === null ? null : Number(row.stream_version),
    gap: row.gap,
    reason: row.reason,
    retryAt: row.retry_at,
    due: row.due,
    attemptCount: row.attempts,
    history: row.first_failed_at ? { attempts: row.attempt_history, firstFailedAt: row.first_failed_at, context: row.failure_context } : undefined,
  };
}
