import type { RecordedEvent } from '../events/types.js';
import { queryNamed, type SqlExecutor } from '../sql/executor.js';
import { EVENT_COLUMNS, type EventRow, eventsInOrder, toRecordedEvent } from './records.js';

/** Events with `eventNumber > after`, in log order, at most `limit`. Only sequenced events are read. */
export async function readLog(executor: SqlExecutor, quotedSchema: string, after: number, limit: number): Promise<RecordedEvent[]> {
  return (await readLogRows(executor, quotedSchema, after, limit)).map(toRecordedEvent);
}

/** The rows behind {@link readLog}. */
export function readLogRows(executor: SqlExecutor, quotedSchema: string, after: number, limit: number): Promise<EventRow[]> {
  return queryNamed<EventRow>(
    executor,
    `herald:read:${quotedSchema}`,
    `SELECT ${EVENT_COLUMNS} FROM ${eventsInOrder(quotedSchema)} WHERE p.event_number > $1 ORDER BY p.event_number LIMIT $2`,
    [after, limit],
  );
}

/**
 * A stream's events with `streamVersion > afterVersion`, in version order. Reads committed events
 * whether or not they are sequenced yet (an unsequenced event has `eventNumber` 0), so an aggregate
 * can be loaded right after the transaction that wrote it.
 */
export async function readStream(
  executor: SqlExecutor,
  quotedSchema: string,
  streamId: string,
  afterVersion = 0,
): Promise<RecordedEvent[]> {
  const { rows } = await executor.query<EventRow>(
    `SELECT ${EVENT_COLUMNS} FROM ${quotedSchema}.events e LEFT JOIN ${quotedSchema}.positions p ON p.id = e.id
      WHERE e.stream_id = $1 AND e.stream_version > $2 ORDER BY e.stream_version`,
    [streamId, afterVersion],
  );
  return rows.map(toRecordedEvent);
}

/** One sequenced event by its number, or undefined. */
export async function readEvent(executor: SqlExecutor, quotedSchema: string, eventNumber: number): Promise<RecordedEvent | undefined> {
  const { rows } = await executor.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM ${eventsInOrder(quotedSchema)} WHERE p.event_number = $1`, [eventNumber]);
  return rows[0] ? toRecordedEvent(rows[0]) : undefined;
}

/** The last sequenced event number (0 for an empty log). */
export async function readHead(executor: SqlExecutor, quotedSchema: string): Promise<number> {
  const { rows } = await executor.query<{ last_event_number: string }>(`SELECT last_event_number FROM ${quotedSchema}.log_head`);
  return Number(rows[0]?.last_event_number ?? 0);
}

/** Committed events not sequenced yet: past the sequencer's scan, or in its holes. */
export async function countUnsequenced(executor: SqlExecutor, quotedSchema: string): Promise<number> {
  const s = quotedSchema;
  const { rows } = await executor.query<{ n: string }>(
    `SELECT (SELECT count(*) FROM ${s}.log_head h JOIN ${s}.events e ON e.id > h.sequenced_through)
          + (SELECT count(*) FROM ${s}.log_head h, unnest(h.holes + h.recent_holes) r JOIN ${s}.events e ON e.id >= lower(r) AND e.id < upper(r)) AS n`,
  );
  return Number(rows[0]?.n ?? 0);
}
