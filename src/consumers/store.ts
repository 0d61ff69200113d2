import type pg from 'pg';
import type { ErrorSummary } from '../handlers/policy.js';
import type { SqlExecutor } from '../sql/executor.js';
import type { ReceivedEvent } from '../transports/cloudevents.js';

/** Status of a row in `consumer_messages`. */
export type ConsumerMessageStatus = 'held' | 'parked' | 'retried' | 'skipped';

/** A stream's state for one consumer, read under its row lock. */
export interface StreamState {
  /** Last stream version handled (or skipped). */
  readonly version: number;
  /** Lowest version of this stream that is parked, if any: the stream waits behind it. */
  readonly parkedVersion: number | null;
}

/** A stored message (held or parked), as the consumer reads it back. */
export interface StoredMessage {
  readonly key: string;
  readonly status: ConsumerMessageStatus;
  readonly body: Buffer;
  readonly brokerId: string | null;
  readonly streamId: string | null;
  readonly streamVersion: number | null;
}

/** Why a message is parked, and what failed. */
export interface ParkRecord {
  readonly reason: string;
  readonly error?: ErrorSummary;
  readonly fingerprint?: string;
  readonly attempts: number;
  /** Parked because earlier versions did not arrive in time. */
  readonly gap?: boolean;
}

/** SQL of one consumer: stream positions, held and parked messages, inbox and receipts. Every value is a parameter. */
export class ConsumerStore {
  private readonly streams: string;
  private readonly messages: string;
  private readonly inbox: string;
  private readonly receipts: string;

  constructor(
    schema: string,
    readonly consumer: string,
    readonly source: string,
  ) {
    this.streams = `${schema}.consumer_streams`;
    this.messages = `${schema}.consumer_messages`;
    this.inbox = `${schema}.inbox`;
    this.receipts = `${schema}.delivery_receipts`;
  }

  /** Locks the stream's row for this transaction (creating it at version 0) and reads its state. */
  async lockStream(tx: SqlExecutor, streamId: string): Promise<StreamState> {
    return (await this.lockStreams(tx, [streamId])).get(streamId)!;
  }

  /**
   * Locks the rows of several streams (creating missing ones at version 0), in stream id order so
   * that concurrent batches cannot deadlock, and reads their state: two statements for a batch.
   */
  async lockStreams(tx: SqlExecutor, streamIds: readonly string[]): Promise<Map<string, StreamState>> {
    await tx.query(
      `INSERT INTO ${this.streams} (consumer, source, stream_id) SELECT $1, $2, unnest($3::text[]) ORDER BY 3 ON CONFLICT DO NOTHING`,
      [this.consumer, this.source, streamIds],
    );
    const { rows } = await tx.query<{ stream_id: string; version: string }>(
      `SELECT stream_id, version FROM ${this.streams}
        WHERE consumer = $1 AND source = $2 AND stream_id = ANY($3::text[]) ORDER BY stream_id FOR UPDATE`,
      [this.consumer, this.source, streamIds],
    );
    // Read after the locks are held: this statement's snapshot sees rows parked by whoever held
    // them before us. Parked versions already passed (handled by a redelivery) do not block.
    const { rows: parked } = await tx.query<{ stream_id: string; parked: string }>(
      `SELECT m.stream_id, min(m.stream_version) AS parked
         FROM ${this.messages} m JOIN ${this.streams} s USING (consumer, source, stream_id)
        WHERE m.consumer = $1 AND m.source = $2 AND m.stream_id = ANY($3::text[]) AND m.status = 'parked' AND m.stream_version > s.version
        GROUP BY m.stream_id`,
      [this.consumer, this.source, streamIds],
    );
    const parkedBy = new Map(parked.map((r) => [r.stream_id, Number(r.parked)]));
    return new Map(rows.map((r) => [r.stream_id, { version: Number(r.version), parkedVersion: parkedBy.get(r.stream_id) ?? null }]));
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

  /** Records many event ids in the inbox in one statement; resolves to those recorded now (the rest were handled before). */
  async recordAllInInbox(tx: SqlExecutor, eventIds: readonly string[]): Promise<Set<string>> {
    const { rows } = await tx.query<{ message_id: string }>(
      `INSERT INTO ${this.inbox} (consumer, message_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING RETURNING message_id`,
      [this.consumer, eventIds],
    );
    return new Set(rows.map((r) => r.message_id));
  }

  /** Moves many streams' versions and writes the receipts of many events, in one statement. */
  async finishAll(tx: SqlExecutor, versions: ReadonlyMap<string, number>, eventNumbers: readonly number[]): Promise<void> {
    await tx.query(
      `WITH moved AS (
         UPDATE ${this.streams} s SET version = greatest(s.version, u.version), updated_at = now()
           FROM (SELECT unnest($3::text[]) AS stream_id, unnest($4::bigint[]) AS version) u
          WHERE s.consumer = $1 AND s.source = $2 AND s.stream_id = u.stream_id)
       INSERT INTO ${this.receipts} (consumer, source, event_number) SELECT $1, $2, unnest($5::bigint[])`,
      [this.consumer, this.source, [...versions.keys()], [...versions.values()], eventNumbers],
    );
  }

  /** Records the event id in the inbox; false if it was handled before. */
  async recordInInbox(tx: SqlExecutor, eventId: string): Promise<boolean> {
    const { rows } = await tx.query(`INSERT INTO ${this.inbox} (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1`, [
      this.consumer,
      eventId,
    ]);
    return rows.length === 1;
  }

  /**
   * Marks `event` done for its stream in one statement: moves the stream version, writes the
   * receipt the sender will be told about, and resolves the stored row it came from, if any.
   */
  async finish(tx: SqlExecutor, event: ReceivedEvent, stored: { key: string; resolution: 'delete' | 'retried' | 'skipped'; reason?: string } | undefined): Promise<void> {
    const m = event.metadata;
    await tx.query(
      `WITH moved AS (
         UPDATE ${this.streams} SET version = greatest(version, $4), updated_at = now()
          WHERE consumer = $1 AND source = $2 AND stream_id = $3),
       receipt AS (
         INSERT INTO ${this.receipts} (consumer, source, event_number) VALUES ($1, $2, $5)),
       removed AS (
         DELETE FROM ${this.messages} WHERE $7 = 'delete' AND consumer = $1 AND message_key = $6)
       UPDATE ${this.messages} SET status = $7, resolved_at = now(), reason = coalesce($8, reason)
        WHERE $7 <> 'delete' AND consumer = $1 AND message_key = $6`,
      [this.consumer, this.source, m.streamId, m.streamVersion, m.eventNumber, stored?.key ?? null, stored?.resolution ?? 'none', stored?.reason ?? null],
    );
  }

  /** Stores a message that arrived ahead of its stream's next version (no-op if already held). */
  async hold(tx: SqlExecutor, key: string, event: ReceivedEvent, body: Buffer, brokerId: string | null): Promise<void> {
    const m = event.metadata;
    await tx.query(
      `INSERT INTO ${this.messages} (consumer, message_key, source, stream_id, stream_version, event_number, event_type, status, body, broker_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'held', $8, $9) ON CONFLICT (consumer, message_key) DO NOTHING`,
      [this.consumer, key, m.source, m.streamId, m.streamVersion, m.eventNumber, event.type, body, brokerId],
    );
  }

  /** Parks a message (new, held, or parked again after a failed retry), keeping its raw body. */
  async park(tx: SqlExecutor, key: string, event: ReceivedEvent | undefined, body: Buffer, brokerId: string | null, record: ParkRecord): Promise<void> {
    const m = event?.metadata;
    await tx.query(
      `INSERT INTO ${this.messages} AS c (consumer, message_key, source, stream_id, stream_version, event_number, event_type, status, body, broker_id,
              reason, error_type, error_message, error_stack, fingerprint, attempts, gap, parked_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'parked', $8, $9, $10, $11, $12, $13, $14, $15, $16, now())
       ON CONFLICT (consumer, message_key) DO UPDATE SET
         status = 'parked', gap = EXCLUDED.gap, reason = EXCLUDED.reason, error_type = EXCLUDED.error_type, error_message = EXCLUDED.error_message,
         error_stack = EXCLUDED.error_stack, fingerprint = EXCLUDED.fingerprint, attempts = c.attempts + EXCLUDED.attempts,
         parked_at = now(), resolved_at = NULL`,
      [
        this.consumer,
        key,
        m?.source ?? null,
        m?.streamId ?? null,
        m?.streamVersion ?? null,
        m?.eventNumber ?? null,
        event?.type ?? null,
        body,
        brokerId,
        record.reason,
        record.error?.type ?? null,
        record.error?.message ?? null,
        record.error?.stack ?? null,
        record.fingerprint ?? null,
        record.attempts,
        record.gap ?? false,
      ],
    );
  }

  /** The lowest held message of a stream. */
  async nextHeld(db: SqlExecutor, streamId: string): Promise<StoredMessage | undefined> {
    const { rows } = await db.query<MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM ${this.messages}
        WHERE consumer = $1 AND source = $2 AND stream_id = $3 AND status = 'held' ORDER BY stream_version LIMIT 1`,
      [this.consumer, this.source, streamId],
    );
    return rows[0] && toStored(rows[0]);
  }

  async read(db: SqlExecutor, key: string, lock = false): Promise<StoredMessage | undefined> {
    const { rows } = await db.query<MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM ${this.messages} WHERE consumer = $1 AND message_key = $2${lock ? ' FOR UPDATE' : ''}`,
      [this.consumer, key],
    );
    return rows[0] && toStored(rows[0]);
  }

  async deleteHeld(tx: SqlExecutor, key: string): Promise<void> {
    await tx.query(`DELETE FROM ${this.messages} WHERE consumer = $1 AND message_key = $2 AND status = 'held'`, [this.consumer, key]);
  }

  async resolve(tx: SqlExecutor, key: string, status: 'retried' | 'skipped', reason: string | null): Promise<void> {
    await tx.query(`UPDATE ${this.messages} SET status = $3, resolved_at = now(), reason = coalesce($4, reason) WHERE consumer = $1 AND message_key = $2`, [
      this.consumer,
      key,
      status,
      reason,
    ]);
  }

  /** A failed operator retry: one more attempt on the record; the message stays parked. */
  async recordAttempt(db: SqlExecutor, key: string, reason: string, error: ErrorSummary | undefined): Promise<void> {
    await db.query(
      `UPDATE ${this.messages} SET attempts = attempts + 1, reason = $3, error_type = $4, error_message = $5, error_stack = $6, parked_at = now()
        WHERE consumer = $1 AND message_key = $2`,
      [this.consumer, key, reason, error?.type ?? null, error?.message ?? null, error?.stack ?? null],
    );
  }

  /**
   * Streams with held messages that need a look: the next version is there (or stale ones), or the
   * oldest held message waited longer than `waitMs` with nothing parked in front of it.
   */
  async heldStreams(db: pg.Pool, waitMs: number): Promise<{ streamId: string; ready: boolean; nextVersion: number; heldVersion: number }[]> {
    const { rows } = await db.query<{ stream_id: string; ready: boolean; next_version: string; held_version: string }>(
      `SELECT h.stream_id, h.v <= s.version + 1 AS ready, s.version + 1 AS next_version, h.v AS held_version
         FROM (SELECT stream_id, min(stream_version) AS v, min(received_at) AS oldest
                 FROM ${this.messages} WHERE consumer = $1 AND source = $2 AND status = 'held' GROUP BY stream_id) h
         JOIN ${this.streams} s ON s.consumer = $1 AND s.source = $2 AND s.stream_id = h.stream_id
        WHERE NOT EXISTS (SELECT 1 FROM ${this.messages} p WHERE p.consumer = $1 AND p.source = $2 AND p.stream_id = h.stream_id AND p.status = 'parked')
          AND (h.v <= s.version + 1 OR h.oldest < now() - $3 * interval '1 millisecond')
        LIMIT 1000`,
      [this.consumer, this.source, waitMs],
    );
    return rows.map((r) => ({ streamId: r.stream_id, ready: r.ready, nextVersion: Number(r.next_version), heldVersion: Number(r.held_version) }));
  }

  /** Takes up to `limit` receipts off the table (inside `tx`: they come back if it rolls back). */
  async takeReceipts(tx: SqlExecutor, limit: number): Promise<{ eventNumber: number; handledAt: Date }[]> {
    const { rows } = await tx.query<{ event_number: string; handled_at: Date }>(
      `DELETE FROM ${this.receipts} WHERE ctid = ANY(ARRAY(
         SELECT ctid FROM ${this.receipts} WHERE consumer = $1 AND source = $2 LIMIT $3 FOR UPDATE SKIP LOCKED))
       RETURNING event_number, handled_at`,
      [this.consumer, this.source, limit],
    );
    return rows.map((r) => ({ eventNumber: Number(r.event_number), handledAt: r.handled_at }));
  }

  /** Counts for status. */
  async counts(db: pg.Pool): Promise<{ held: number; parked: number; streams: number; receipts: number }> {
    const { rows } = await db.query<{ held: string; parked: string; streams: string; receipts: string }>(
      `SELECT (SELECT count(*) FROM ${this.messages} WHERE consumer = $1 AND status = 'held') AS held,
              (SELECT count(*) FROM ${this.messages} WHERE consumer = $1 AND status = 'parked') AS parked,
              (SELECT count(*) FROM ${this.streams} WHERE consumer = $1 AND source = $2) AS streams,
              (SELECT count(*) FROM ${this.receipts} WHERE consumer = $1 AND source = $2) AS receipts`,
      [this.consumer, this.source],
    );
    const r = rows[0]!;
    return { held: Number(r.held), parked: Number(r.parked), streams: Number(r.streams), receipts: Number(r.receipts) };
  }

  /** Stored messages for operators, newest first. */
  async list(db: pg.Pool, status: ConsumerMessageStatus | undefined, limit: number): Promise<ConsumerMessageRow[]> {
    const { rows } = await db.query<ConsumerMessageRow>(
      `SELECT message_key, source, stream_id, stream_version, event_number, event_type, status, broker_id, reason,
              error_type, error_message, fingerprint, attempts, received_at, parked_at, resolved_at, convert_from(body, 'UTF8') AS body_text
         FROM ${this.messages} WHERE consumer = $1 AND ($2::text IS NULL OR status = $2)
        ORDER BY received_at DESC LIMIT $3`,
      [this.consumer, status ?? null, limit],
    ).catch(async () =>
      // A body that is not UTF-8 cannot be shown as text: list without it.
      db.query<ConsumerMessageRow>(
        `SELECT message_key, source, stream_id, stream_version, event_number, event_type, status, broker_id, reason,
                error_type, error_message, fingerprint, attempts, received_at, parked_at, resolved_at, NULL AS body_text
           FROM ${this.messages} WHERE consumer = $1 AND ($2::text IS NULL OR status = $2)
          ORDER BY received_at DESC LIMIT $3`,
        [this.consumer, status ?? null, limit],
      ),
    );
    return rows;
  }
}

/** A stored message as `consumer.messages.list()` returns it (database row). */
export interface ConsumerMessageRow {
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
  fingerprint: string | null;
  attempts: number;
  received_at: Date;
  parked_at: Date | null;
  resolved_at: Date | null;
  body_text: string | null;
}

const MESSAGE_COLUMNS = 'message_key, status, body, broker_id, stream_id, stream_version';

interface MessageRow {
  message_key: string;
  status: ConsumerMessageStatus;
  body: Buffer;
  broker_id: string | null;
  stream_id: string | null;
  stream_version: string | null;
}

function toStored(row: MessageRow): StoredMessage {
  return {
    key: row.message_key,
    status: row.status,
    body: row.body,
    brokerId: row.broker_id,
    streamId: row.stream_id,
    streamVersion: row.stream_version === null ? null : Number(row.stream_version),
  };
}
