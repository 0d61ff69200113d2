import { createHash } from 'node:crypto';
import type { RelayMessage } from '../relay/page.js';
import { cloudEventText } from '../transports/cloudevents.js';
import type { OutboxSettings } from './options.js';
import { quoteIdent } from '../sql/identifiers.js';

/** A row of the outbox table as the page query reads it (texts, spliced into the CloudEvent as they are). */
export interface OutboxRow {
  n: string;
  stream: string;
  type: string;
  data: string | null;
  ms: number;
  event_id: string | null;
  meta: string;
}

/**
 * The page query of a checked table: undispatched rows after the checkpoint, up to the
 * watermark, in id order. Identifiers are validated and quoted; every value is a parameter.
 */
export function pageQuery(settings: OutboxSettings): string {
  const c = settings.columns;
  const col = (name: string) => `t.${quoteIdent(name)}`;
  const meta = c.metadata
    ? `CASE WHEN ${col(c.metadata)} IS NULL THEN '{}'
            WHEN jsonb_typeof(${col(c.metadata)}::jsonb) = 'object' THEN ${col(c.metadata)}::jsonb::text
            ELSE jsonb_build_object('value', ${col(c.metadata)}::jsonb)::text END`
    : `'{}'`;
  return `SELECT ${col(c.id)}::text AS n, ${col(c.aggregateId)}::text AS stream, ${col(c.type)}::text AS type,
                 ${col(c.payload)}::text AS data, (extract(epoch FROM ${col(c.occurredAt)}) * 1000)::float8 AS ms,
                 ${c.eventId ? `${col(c.eventId)}::text` : 'NULL::text'} AS event_id, ${meta} AS meta
            FROM ${settings.qualified} t
           WHERE ${col(c.id)} > $1 AND ${col(c.id)} <= $2 AND ${col(c.dispatchedAt)} IS NULL
           ORDER BY ${col(c.id)} LIMIT $3`;
}

/** Marks confirmed rows dispatched, committed without waiting for the disk (the checkpoint after it is ordered behind it in the WAL). */
export function confirmQuery(settings: OutboxSettings): string {
  const id = quoteIdent(settings.columns.id);
  const dispatched = quoteIdent(settings.columns.dispatchedAt);
  return `WITH commit_mode AS (SELECT set_config('synchronous_commit', 'off', true) AS mode)
          UPDATE ${settings.qualified} SET ${dispatched} = now()
           WHERE ${id} = ANY($1::bigint[]) AND ${dispatched} IS NULL AND EXISTS (SELECT 1 FROM commit_mode)`;
}

// A fixed namespace for event ids derived from rows (UUIDv5, RFC 9562).
const NAMESPACE = Buffer.from('8d3f6b2e5c1a4e7f9b0d2c4e6a8f1b3d', 'hex');

/** A stable event id for a row without one: UUIDv5 of the source, the table and the row's id. Pure. */
export function derivedEventId(source: string, table: string, id: string): string {
  const bytes = createHash('sha1').update(NAMESPACE).update(`${source}/${table}/${id}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A payload as JSON text: JSON columns as they are, text holding JSON as it is, other text as a JSON string. Pure. */
export function payloadText(data: string | null, textColumn: boolean): string {
  if (data === null) return 'null';
  if (!textColumn) return data;
  try {
    JSON.parse(data);
    return data;
  } catch {
    return JSON.stringify(data);
  }
}

/** A row as the message the relay publishes: a CloudEvent from Herald's one encoder. Pure. */
export function toMessage(row: OutboxRow, version: number, prefix: string, settings: OutboxSettings, textPayload: boolean): RelayMessage {
  const id = row.event_id ?? derivedEventId(settings.source, settings.display, row.n);
  const createdAt = new Date(Math.floor(row.ms));
  const body = cloudEventText(prefix, {
    id,
    number: row.n,
    streamId: row.stream,
    version: String(version),
    type: row.type,
    time: createdAt.toISOString(),
    data: payloadText(row.data, textPayload),
    metadata: row.meta,
    causation: null,
    correlation: null,
  });
  return { id, source: settings.source, type: row.type, key: row.stream, body: Buffer.from(body), number: Number(row.n), version, createdAt };
}
