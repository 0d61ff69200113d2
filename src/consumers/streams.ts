import type { SqlExecutor } from '../sql/executor.js';
import type { ReceivedEvent } from '../transports/cloudevents.js';
import type { StreamPosition } from './arrival.js';

/** Statuses of a stored message that block its stream: later versions wait behind it. */
export const BLOCKING_STATUSES = ['scheduled', 'parked', 'retry_requested', 'skip_requested'] as const;

/** How a stored message ends once its event is settled. */
export type Resolution = { readonly key: string; readonly as: 'delete' | 'retried' | 'skipped'; readonly reason?: string };

/**
 * SQL of one consumer's stream positions, inbox ids and receipts: what moves when a message is
 * handled. Every value is a parameter; table names come from the validated context schema.
 */
export class ConsumerStreams {
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

  /**
   * Locks the rows of several streams (creating missing ones at version 0), in stream id order so
   * that concurrent batches cannot deadlock, and reads their state. The row lock is what keeps
   * two attempts at one stream — in this process or another — from ever running at once.
   */
  async lock(tx: SqlExecutor, streamIds: readonly string[]): Promise<Map<string, StreamPosition>> {
    const ids = [...new Set(streamIds)].sort();
    await tx.query(
      `INSERT INTO ${this.streams} (consumer, source, stream_id) SELECT $1, $2, unnest($3::text[]) ORDER BY 3 ON CONFLICT DO NOTHING`,
      [this.consumer, this.source, ids],
    );
    const { rows } = await tx.query<{ stream_id: string; version: string }>(
      `SELECT stream_id, version FROM ${this.streams}
        WHERE consumer = $1 AND source = $2 AND stream_id = ANY($3::text[]) ORDER BY stream_id FOR UPDATE`,
      [this.consumer, this.source, ids],
    );
    // Read after the locks are held: this statement's snapshot sees what the previous holder stored.
    // Failed versions already passed (handled by a redelivery) do not block.
    const { rows: blocked } = await tx.query<{ stream_id: string; blocked: string }>(
      `SELECT m.stream_id, min(m.stream_version) AS blocked
         FROM ${this.messages} m JOIN ${this.streams} s USING (consumer, source, stream_id)
        WHERE m.consumer = $1 AND m.source = $2 AND m.stream_id = ANY($3::text[])
          AND m.status = ANY($4::text[]) AND m.stream_version > s.version
        GROUP BY m.stream_id`,
      [this.consumer, this.source, ids, BLOCKING_STATUSES],
    );
    const blockedBy = new Map(blocked.map((r) => [r.stream_id, Number(r.blocked)]));
    return new Map(rows.map((r) => [r.stream_id, { version: Number(r.version), blockedVersion: blockedBy.get(r.stream_id) ?? null }]));
  }

  async lockOne(tx: SqlExecutor, streamId: string): Promise<StreamPosition> {
    return (await this.lock(tx, [streamId])).get(streamId)!;
  }

  /** Records event ids in the inbox in one statement; resolves to those recorded now (the rest were handled before). */
  async recordInInbox(tx: SqlExecutor, eventIds: readonly string[]): Promise<Set<string>> {
    const { rows } = await tx.query<{ message_id: string }>(
      `INSERT INTO ${this.inbox} (consumer, message_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING RETURNING message_id`,
      [this.consumer, eventIds],
    );
    return new Set(rows.map((r) => r.message_id));
  }

  /**
   * Of `eventIds`, those this consumer knows: handled (in the inbox) or stored (held, failed,
   * skipped). A message whose stream version was handled but whose id is unknown is not a
   * redelivery: the sender's log diverged (a restored backup reused the version).
   */
  async knownEventIds(tx: SqlExecutor, eventIds: readonly string[]): Promise<Set<string>> {
    if (eventIds.length === 0) return new Set();
    const { rows } = await tx.query<{ id: string }>(
      `SELECT message_id AS id FROM ${this.inbox} WHERE consumer = $1 AND message_id = ANY($2::text[])
       UNION SELECT message_key FROM ${this.messages} WHERE consumer = $1 AND message_key = ANY($2::text[])`,
      [this.consumer, eventIds],
    );
    return new Set(rows.map((r) => r.id));
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

  /**
   * Marks `event` done for its stream in one statement: moves the stream version, writes the
   * receipt the sender will be told about (a skip counts: it was a decision), and resolves the
   * stored row it came from, if any.
   */
  async finish(tx: SqlExecutor, event: ReceivedEvent, stored: Resolution | undefined): Promise<void> {
    const m = event.metadata;
    await tx.query(
      `WITH moved AS (
         UPDATE ${this.streams} SET version = greatest(version, $4), updated_at = now()
          WHERE consumer = $1 AND source = $2 AND stream_id = $3),
       receipt AS (
         INSERT INTO ${this.receipts} (consumer, source, event_number) VALUES ($1, $2, $5)),
       removed AS (
         DELETE FROM ${this.messages} WHERE $7 = 'delete' AND consumer = $1 AND message_key = $6)
       UPDATE ${this.messages} SET status = $7, resolved_at = now(), retry_at = NULL, reason = coalesce($8, reason)
        WHERE $7 IN ('retried', 'skipped') AND consumer = $1 AND message_key = $6`,
      [this.consumer, this.source, m.streamId, m.streamVersion, m.eventNumber, stored?.key ?? null, stored?.as ?? 'none', stored?.reason ?? null],
    );
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
}
