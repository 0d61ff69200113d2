import type { CustomMetadata, RecordedEvent } from '../events/types.js';

/** The columns every read of the log selects, in the order {@link toRecordedEvent} expects. */
export const EVENT_COLUMNS =
  'event_number, event_id, stream_id, stream_version, event_type, data, metadata, causation_id, correlation_id, created_at';

/** A row of `events` as `pg` returns it (bigint arrives as a string). */
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
