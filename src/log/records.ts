import type { CustomMetadata, RecordedEvent } from '../events/types.js';

/**
 * The columns every read of the log selects, in the order {@link toRecordedEvent} expects: an
 * event's row is `events e`, its number is in `positions p` (see {@link eventsInOrder}).
 */
export const EVENT_COLUMNS =
  'p.event_number, e.event_id, e.stream_id, e.stream_version, e.event_type, e.data, e.metadata, e.causation_id, e.correlation_id, e.created_at';

/**
 * The log in order: `positions p` (event number → row id, written by the sequencer) joined to
 * `events e`. Filter and order on `p.event_number`.
 */
export function eventsInOrder(quotedSchema: string): string {
  return `${quotedSchema}.positions p JOIN ${quotedSchema}.events e ON e.id = p.id`;
}

/** A row of `events` with its number as `pg` returns it (bigint arrives as a string; the number is null until sequenced). */
export interface EventRow {
  event_number: string | number | null;
  event_id: string;
  stream_id: string;
  stream_version: string | number;
  event_type: string;
  data: unknown;
  metadata: CustomMetadata;
  causation_id: string | null;
  correlation_id: string | null;
  created_at: Date;
}

export function toRecordedEvent(row: EventRow): RecordedEvent {
  return {
    type: row.event_type,
    data: row.data,
    metadata: {
      eventId: row.event_id,
      eventNumber: row.event_number === null ? 0 : Number(row.event_number),
      streamId: row.stream_id,
      streamVersion: Number(row.stream_version),
      causationId: row.causation_id,
      correlationId: row.correlation_id,
      createdAt: row.created_at,
      custom: row.metadata,
    },
  };
}
