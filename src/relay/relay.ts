import type pg from 'pg';
import type { RecordedEvent } from '../events/types.js';
import { ConfigError, TransportError } from '../errors.js';
import type { PipelineDefinition, PipelinePage, SubscriptionDefinition, SubscriptionHealth, StartFrom } from '../subscriptions/definition.js';
import { encodeCloudEvent } from '../transports/cloudevents.js';
import type { OutgoingMessage, Transport } from '../transports/transport.js';

/** How to relay a context's log to a broker. */
export interface RelayOptions {
  /** The broker adapter: `rabbitmq()`, `nats()` or `redis()` from `herald/transports/*`. */
  readonly transport: Transport;
  /** Durable name of the relay's subscription. Default `relay:<transport kind>`. */
  readonly name?: string;
  /**
   * Most messages in flight (published, not confirmed yet) at once. The relay hands the broker
   * pages of `window / pages` events and keeps up to `pages` of them in flight, so the broker's
   * pipeline stays full while earlier pages are being confirmed. Default 1000.
   */
  readonly window?: number;
  /** Pages the window is cut into. Default 4. */
  readonly pages?: number;
  /** A page whose confirms have not all arrived after this long fails (and is published again). Default 30 000 ms. */
  readonly confirmTimeoutMs?: number;
  /** Default `'origin'`: every event of the log is published. */
  readonly startFrom?: StartFrom;
  /**
   * Consumers expected to handle every event of this context. They are listed in delivery status
   * (and their unhandled events flagged) even before their first acknowledgement.
   */
  readonly expectedConsumers?: readonly string[];
  /** Collect consumers' delivery acknowledgements from the transport's `acks` channel. Default `true`. */
  readonly collectAcknowledgements?: boolean;
}

/** What `herald.relay()` returns: the relay's health in this process. */
export interface RelayHandle {
  readonly name: string;
  /** Healthy while publishing works; unhealthy (with the broker's error) while it retries with backoff. */
  health(): SubscriptionHealth;
}

/**
 * The relay as a pipelined subscription: each page of the log is encoded as CloudEvents and
 * published with every message in flight; the page's checkpoint moves only once the broker
 * confirmed all of it, so an event counts as dispatched only after its confirm. Pages are
 * published in log order on one transport, so each stream enters the broker in version order.
 * A crash or a broker failure publishes the unconfirmed pages again (at most one window of
 * duplicates, which the consumer's inbox absorbs).
 */
export function relaySubscription(context: string, options: RelayOptions, log?: { pool: pg.Pool; schema: string }): SubscriptionDefinition {
  const { transport } = options;
  if (!transport || typeof transport.publish !== 'function') throw new ConfigError('relay: `transport` must be a Herald transport');
  const window = options.window ?? 1000;
  if (!Number.isSafeInteger(window) || window < 1 || window > 100_000) throw new ConfigError(`relay: window must be a whole number from 1 to 100000, got ${window}`);
  const pages = options.pages ?? 4;
  if (!Number.isSafeInteger(pages) || pages < 1 || pages > window) throw new ConfigError(`relay: pages must be a whole number from 1 to the window (${window}), got ${pages}`);
  const confirmTimeoutMs = options.confirmTimeoutMs ?? 30_000;
  if (!(confirmTimeoutMs > 0)) throw new ConfigError(`relay: confirmTimeoutMs must be positive, got ${confirmTimeoutMs}`);
  const publish = (messages: readonly OutgoingMessage[]) => confirmedWithin(transport.publish('events', messages), confirmTimeoutMs, transport.kind);
  // With the log at hand, PostgreSQL writes the CloudEvents text itself: the relay then never
  // parses payloads in Node, which is most of its CPU. Without it, events are read and encoded here.
  const pipeline: PipelineDefinition<readonly OutgoingMessage[]> | PipelineDefinition<readonly RecordedEvent[]> = log
    ? { depth: pages, read: (after, limit) => readMessages(log.pool, log.schema, context, after, limit), handle: publish }
    : { depth: pages, handle: (events: readonly RecordedEvent[]) => publish(events.map((event) => toMessage(context, event))) };
  return {
    name: options.name ?? `relay:${transport.kind}`,
    startFrom: options.startFrom ?? 'origin',
    batchSize: Math.ceil(window / pages),
    pipeline,
    handle() {
      throw new Error('the relay handles whole pages (pipeline)');
    },
  };
}

function toMessage(context: string, event: RecordedEvent): OutgoingMessage {
  return { id: event.metadata.eventId, source: context, type: event.type, key: event.metadata.streamId, body: encodeCloudEvent(context, event) };
}

/**
 * A page of the log as ready-to-send messages. The payload and metadata are read as text and
 * spliced into the CloudEvent as they are, so the relay never parses and re-serialises payloads
 * in Node (most of its CPU otherwise). Same attributes as {@link encodeCloudEvent} (checked by a test).
 */
async function readMessages(pool: pg.Pool, schema: string, context: string, after: number, limit: number): Promise<PipelinePage<readonly OutgoingMessage[]>> {
  const { rows } = await pool.query<PageRow>({
    name: `herald:relay-page:${schema}`,
    text: `SELECT event_number::text AS n, event_id::text AS id, stream_id, stream_version::text AS v, event_type AS type,
                  data::text AS data, metadata::text AS meta, causation_id AS causation, correlation_id AS correlation,
                  (extract(epoch FROM created_at) * 1000)::float8 AS ms
             FROM ${schema}.events
            WHERE event_number > $1 AND event_number IS NOT NULL
            ORDER BY event_number LIMIT $2`,
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

function confirmedWithin(publishing: Promise<void>, ms: number, kind: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TransportError(kind, `no confirm for a page within ${ms} ms`)), ms);
  });
  return Promise.race([publishing, timeout]).finally(() => clearTimeout(timer));
}
