import type pg from 'pg';
import { eventsInOrder } from '../log/records.js';
import { cloudEventPrefix, cloudEventText, type EventText } from '../transports/cloudevents.js';
import type { OutgoingMessage } from '../transports/transport.js';

/** One event of the log, ready to publish, with what the relay needs to park it. */
export interface RelayMessage extends OutgoingMessage {
  readonly number: number;
  readonly version: number;
  readonly createdAt: Date;
}

/** A page of the log for the relay: its messages, and the last event number it covers. */
export interface RelayPage {
  readonly items: readonly RelayMessage[];
  /** The last event number read (`after` when the page is empty). */
  readonly last: number;
}

/**
 * A page of the log as ready-to-send messages. The payload and metadata are read as text and
 * spliced into the CloudEvent as they are, so the relay never parses and re-serialises payloads
 * in Node (most of its CPU otherwise); the same encoder as `encodeCloudEvent` makes the text.
 */
export async function readMessages(pool: pg.Pool, schema: string, context: string, after: number, limit: number): Promise<RelayPage> {
  const { rows } = await pool.query<PageRow>({
    name: `herald:relay-page:${schema}`,
    text: `SELECT p.event_number::text AS n, e.event_id::text AS id, e.stream_id, e.stream_version::text AS v, e.event_type AS type,
                  e.data::text AS data, e.metadata::text AS meta, e.causation_id AS causation, e.correlation_id AS correlation,
                  (extract(epoch FROM e.created_at) * 1000)::float8 AS ms
             FROM ${eventsInOrder(schema)}
            WHERE p.event_number > $1
            ORDER BY p.event_number LIMIT $2`,
    values: [after, limit],
  });
  const prefix = cloudEventPrefix(context);
  const items = rows.map((r) => ({
    id: r.id,
    source: context,
    type: r.type,
    key: r.stream_id,
    body: Buffer.from(cloudEventText(prefix, asText(r))),
    number: Number(r.n),
    version: Number(r.v),
    createdAt: new Date(Math.floor(r.ms)),
  }));
  return { items, last: rows.length > 0 ? Number(rows[rows.length - 1]!.n) : after };
}

interface PageRow {
  n: string;
  id: string;
  stream_id: string;
  v: string;
  type: string;
  data: string;
  meta: string;
  causation: string | null;
  correlation: string | null;
  ms: number;
}

function asText(r: PageRow): EventText {
  return {
    id: r.id,
    number: r.n,
    streamId: r.stream_id,
    version: r.v,
    type: r.type,
    time: new Date(Math.floor(r.ms)).toISOString(),
    data: r.data,
    metadata: r.meta,
    causation: r.causation,
    correlation: r.correlation,
  };
}
