import type pg from 'pg';
import { eventsInOrder } from '../log/records.js';
import type { PipelinePage } from '../subscriptions/definition.js';
import type { OutgoingMessage } from '../transports/transport.js';

/**
 * A page of the log as ready-to-send messages. The payload and metadata are read as text and
 * spliced into the CloudEvent as they are, so the relay never parses and re-serialises payloads
 * in Node (most of its CPU otherwise). Same attributes as {@link encodeCloudEvent} (checked by a test).
 */
export async function readMessages(pool: pg.Pool, schema: string, context: string, after: number, limit: number): Promise<PipelinePage<readonly OutgoingMessage[]>> {
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
  const prefix = `{"specversion":"1.0","source":${JSON.stringify(`/herald/${context}`)},"datacontenttype":"application/json","heraldcontext":${JSON.stringify(context)}`;
  const items = rows.map((r) => ({ id: r.id, source: context, type: r.type, key: r.stream_id, body: Buffer.from(cloudEventText(prefix, r)) }));
  return { items, count: rows.length, last: rows.length > 0 ? Number(rows[rows.length - 1]!.n) : after };
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

function cloudEventText(prefix: string, r: PageRow): string {
  const subject = JSON.stringify(r.stream_id);
  let text = `${prefix},"id":"${r.id}","type":${JSON.stringify(r.type)},"subject":${subject},"time":"${new Date(Math.floor(r.ms)).toISOString()}","heraldnumber":"${r.n}","heraldstream":${subject},"heraldversion":"${r.v}"`;
  if (r.causation) text += `,"heraldcausation":${JSON.stringify(r.causation)}`;
  if (r.correlation) text += `,"heraldcorrelation":${JSON.stringify(r.correlation)}`;
  if (r.meta !== '{}') {
    const { traceparent, ...custom } = JSON.parse(r.meta) as Record<string, unknown>;
    if (typeof traceparent === 'string') text += `,"traceparent":${JSON.stringify(traceparent)}`;
    if (Object.keys(custom).length > 0) text += `,"heraldmetadata":${JSON.stringify(JSON.stringify(custom))}`;
  }
  return `${text},"data":${r.data}}`;
}

