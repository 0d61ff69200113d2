import { MalformedMessageError } from '../errors.js';
import type { CustomMetadata, EventMetadata, RecordedEvent } from '../events/types.js';

/**
 * Herald's wire format: a CloudEvents 1.0 event in structured JSON mode. The CloudEvents core
 * attributes carry what every consumer understands; Herald's metadata travels as extension
 * attributes (lower-case alphanumerics, as the spec requires). Numbers that may exceed the spec's
 * 32-bit Integer travel as decimal strings.
 *
 * ```json
 * { "specversion": "1.0", "id": "<event id>", "source": "/herald/orders", "type": "OrderPlaced",
 *   "subject": "order-1", "time": "2026-11-22T10:00:00.000Z", "datacontenttype": "application/json",
 *   "data": { … }, "heraldcontext": "orders", "heraldnumber": "42", "heraldstream": "order-1",
 *   "heraldversion": "1", "heraldcausation": "…", "heraldcorrelation": "…", "traceparent": "00-…",
 *   "tracestate": "…" }
 * ```
 */
export const CONTENT_TYPE = 'application/cloudevents+json';

/** Metadata of an event received from another context. */
export interface ReceivedMetadata extends EventMetadata {
  /** The sending context (`heraldcontext`). `eventNumber` is the position in *its* log. */
  readonly source: string;
  /** W3C trace context of the sender, when it had one. */
  readonly traceparent: string | null;
}

/** An event as a consumer's handler receives it. */
export interface ReceivedEvent<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
  readonly metadata: ReceivedMetadata;
}

/**
 * The CloudEvents attributes holding a W3C trace context (Distributed Tracing extension). An event
 * carries them in its custom metadata under the same keys (`herald/tracing` puts them there).
 */
const TRACEPARENT = 'traceparent';
const TRACESTATE = 'tracestate';
const TRACEPARENT_FORMAT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
/** W3C caps `tracestate` at 32 members of at most 256 characters; a longer one is not worth carrying. */
const TRACESTATE_MAX = 512;

/**
 * An event's fields as text, as the log stores them: the relay reads them so straight from
 * PostgreSQL (payloads never parsed in Node), {@link encodeCloudEvent} makes them from a
 * recorded event. `data` and `metadata` are JSON texts; `metadata` holds the custom metadata,
 * `traceparent` included.
 */
export interface EventText {
  readonly id: string;
  readonly number: string;
  readonly streamId: string;
  readonly version: string;
  readonly type: string;
  readonly time: string;
  readonly data: string;
  readonly metadata: string;
  readonly causation: string | null;
  readonly correlation: string | null;
}

/** The attributes every message of context `source` starts with (computed once per page). Pure. */
export function cloudEventPrefix(source: string): string {
  return `{"specversion":"1.0","source":${JSON.stringify(`/herald/${source}`)},"datacontenttype":"application/json","heraldcontext":${JSON.stringify(source)}`;
}

/**
 * Herald's one CloudEvents encoder: the structured-JSON text of an event, built by splicing its
 * stored texts into the attributes (see the wire format above). Pure.
 */
export function cloudEventText(prefix: string, e: EventText): string {
  const subject = JSON.stringify(e.streamId);
  let text = `${prefix},"id":${JSON.stringify(e.id)},"type":${JSON.stringify(e.type)},"subject":${subject},"time":"${e.time}","heraldnumber":"${e.number}","heraldstream":${subject},"heraldversion":"${e.version}"`;
  if (e.causation) text += `,"heraldcausation":${JSON.stringify(e.causation)}`;
  if (e.correlation) text += `,"heraldcorrelation":${JSON.stringify(e.correlation)}`;
  if (e.metadata !== '{}') {
    const { [TRACEPARENT]: traceparent, [TRACESTATE]: tracestate, ...custom } = JSON.parse(e.metadata) as Record<string, unknown>;
    if (typeof traceparent === 'string') text += `,"traceparent":${JSON.stringify(traceparent)}`;
    if (typeof tracestate === 'string') text += `,"tracestate":${JSON.stringify(tracestate)}`;
    else if (tracestate !== undefined) custom[TRACESTATE] = tracestate;
    if (Object.keys(custom).length > 0) text += `,"heraldmetadata":${JSON.stringify(JSON.stringify(custom))}`;
  }
  return `${text},"data":${e.data}}`;
}

/**
 * The trace context of a message made by {@link cloudEventText}, without parsing its payload: the
 * encoder writes `data` last, and no attribute before it can hold `,"` outside a string (in a JSON
 * string every `"` is escaped), so the text before the first `,"data":` is the attributes. Pure.
 */
export function traceContextOf(body: Buffer): { traceparent: string; tracestate: string | undefined } | undefined {
  const end = body.indexOf(',"data":');
  const at = body.indexOf(',"traceparent":"');
  if (end < 0 || at < 0 || at > end) return undefined;
  try {
    const head = JSON.parse(`${body.toString('utf8', 0, end)}}`) as Record<string, unknown>;
    const traceparent = head[TRACEPARENT];
    if (typeof traceparent !== 'string') return undefined;
    return { traceparent, tracestate: typeof head[TRACESTATE] === 'string' ? head[TRACESTATE] : undefined };
  } catch {
    return undefined;
  }
}

/** Encodes a recorded event of context `source` as a CloudEvent (structured JSON). Pure. */
export function encodeCloudEvent(source: string, event: RecordedEvent): Buffer {
  const m = event.metadata;
  return Buffer.from(
    cloudEventText(cloudEventPrefix(source), {
      id: m.eventId,
      number: String(m.eventNumber),
      streamId: m.streamId,
      version: String(m.streamVersion),
      type: event.type,
      time: m.createdAt.toISOString(),
      data: JSON.stringify(event.data ?? null),
      metadata: JSON.stringify(m.custom ?? {}),
      causation: m.causationId,
      correlation: m.correlationId,
    }),
  );
}

/**
 * Decodes and checks a message body: JSON, CloudEvents 1.0 required attributes, and Herald's
 * extensions. Throws {@link MalformedMessageError} naming the first problem. Pure.
 * The payload is not checked against a schema here (the consumer does that with its event definitions).
 */
export function decodeCloudEvent(body: Buffer | string): ReceivedEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch (error) {
    throw new MalformedMessageError(`body is not JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new MalformedMessageError('body is not a JSON object');
  const ce = parsed as Record<string, unknown>;
  if (ce.specversion !== '1.0') throw new MalformedMessageError(`specversion must be "1.0", got ${JSON.stringify(ce.specversion)}`);
  const id = text(ce, 'id');
  const type = text(ce, 'type');
  text(ce, 'source');
  const context = text(ce, 'heraldcontext');
  const streamId = text(ce, 'heraldstream');
  const eventNumber = count(ce, 'heraldnumber');
  const streamVersion = count(ce, 'heraldversion');
  const createdAt = new Date(text(ce, 'time'));
  if (Number.isNaN(createdAt.getTime())) throw new MalformedMessageError(`time is not a timestamp: ${JSON.stringify(ce.time)}`, type);
  if (ce.datacontenttype !== undefined && ce.datacontenttype !== 'application/json') {
    throw new MalformedMessageError(`datacontenttype must be application/json, got ${JSON.stringify(ce.datacontenttype)}`, type);
  }
  if (!('data' in ce)) throw new MalformedMessageError('data is missing', type);
  const traceparent = ce[TRACEPARENT];
  if (traceparent !== undefined && (typeof traceparent !== 'string' || !TRACEPARENT_FORMAT.test(traceparent))) {
    throw new MalformedMessageError(`traceparent is not a W3C trace context: ${JSON.stringify(traceparent)}`, type);
  }
  return {
    type,
    data: ce.data,
    metadata: {
      eventId: id,
      eventNumber,
      streamId,
      streamVersion,
      causationId: optionalText(ce, 'heraldcausation'),
      correlationId: optionalText(ce, 'heraldcorrelation'),
      createdAt,
      custom: customMetadata(ce.heraldmetadata, traceparent as string | undefined, ce[TRACESTATE]),
      source: context,
      traceparent: (traceparent as string | undefined) ?? null,
    },
  };
}

function text(ce: Record<string, unknown>, name: string): string {
  const value = ce[name];
  if (typeof value !== 'string' || value.length === 0) {
    throw new MalformedMessageError(`${name} must be a non-empty string, got ${JSON.stringify(value) ?? 'nothing'}`, typeof ce.type === 'string' ? ce.type : undefined);
  }
  if (value.length > 1000) throw new MalformedMessageError(`${name} is longer than 1000 characters`);
  return value;
}

function optionalText(ce: Record<string, unknown>, name: string): string | null {
  return ce[name] === undefined || ce[name] === null ? null : text(ce, name);
}

function count(ce: Record<string, unknown>, name: string): number {
  const value = ce[name];
  const n = typeof value === 'string' && /^[0-9]{1,16}$/.test(value) ? Number(value) : typeof value === 'number' ? value : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new MalformedMessageError(`${name} must be a positive whole number, got ${JSON.stringify(value) ?? 'nothing'}`, typeof ce.type === 'string' ? ce.type : undefined);
  }
  return n;
}

/**
 * The custom metadata of a received event, the trace context included. A `tracestate` that is not
 * a string of at most 512 characters is dropped: it is advisory, unlike the event's own data.
 */
function customMetadata(value: unknown, traceparent: string | undefined, tracestate: unknown): CustomMetadata {
  let custom: CustomMetadata = {};
  if (value !== undefined) {
    try {
      const parsed: unknown = typeof value === 'string' ? JSON.parse(value) : undefined;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      custom = parsed as CustomMetadata;
    } catch {
      throw new MalformedMessageError('heraldmetadata must be a JSON object encoded as a string');
    }
  }
  if (!traceparent) return custom;
  return typeof tracestate === 'string' && tracestate.length <= TRACESTATE_MAX ? { ...custom, traceparent, tracestate } : { ...custom, traceparent };
}
