import { definitionOf, validatePayload, type EventDefinition } from '../events/define.js';
import { toJsonValue, type JsonValue } from '../events/json.js';
import { uuidv7 } from '../events/uuid.js';
import type { CustomMetadata, NewEvent } from '../events/types.js';
import {
  DuplicateEventIdError,
  InvalidArgumentError,
  PayloadNotSerializableError,
  WrongExpectedVersionError,
} from '../errors.js';
import { queryNamed, type SqlExecutor } from '../sql/executor.js';
import { encodeExpectedVersion, type ExpectedVersion } from './expected-version.js';

/** Options of one append. */
export interface AppendOptions {
  /** Optimistic concurrency check; default `'any'`. */
  readonly expectedVersion?: ExpectedVersion;
  /** Applied to every event that does not set its own. */
  readonly causationId?: string;
  /** Applied to every event that does not set its own. */
  readonly correlationId?: string;
  /** Merged under each event's own metadata (the event's keys win). */
  readonly metadata?: CustomMetadata;
  /**
   * `'eventual'` (default) resolves once the events are written in the caller's transaction.
   * `'strong'` resolves only after every strong subscription of this log has handled them; it needs
   * Herald to see the commit (see `Herald.append`).
   */
  readonly consistency?: 'eventual' | 'strong';
  /** How long a strong append waits before rejecting with `ConsistencyTimeoutError`; default 5000 ms. */
  readonly consistencyTimeoutMs?: number;
}

/** What an append wrote. */
export interface AppendResult {
  readonly streamId: string;
  /** The stream's version after this append (the last appended event's `streamVersion`). */
  readonly streamVersion: number;
  /** Ids of the appended events, in order. */
  readonly eventIds: readonly string[];
}

/** An event checked and encoded for `append_events()`. */
interface PreparedEvent {
  id: string;
  type: string;
  data: JsonValue;
  metadata: JsonValue;
  causation: string | null;
  correlation: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Checks the stream id: a non-empty string of at most 1000 characters, without NUL. */
export function validateStreamId(streamId: unknown): string {
  if (typeof streamId !== 'string' || streamId.length === 0 || streamId.length > 1000 || streamId.includes('\u0000')) {
    throw new InvalidArgumentError('streamId', `${JSON.stringify(streamId)}; use a non-empty string of at most 1000 characters`);
  }
  return streamId;
}

/**
 * Validates every event (schema, JSON-safety, ids) before anything touches the database, so that a
 * bad payload fails the append with nothing written.
 */
export async function prepareEvents(
  events: readonly NewEvent[],
  options: AppendOptions,
  registry: ReadonlyMap<string, EventDefinition>,
): Promise<PreparedEvent[]> {
  if (!Array.isArray(events) || events.length === 0) {
    throw new InvalidArgumentError('events', 'append needs a non-empty array of events');
  }
  return Promise.all(events.map((event) => prepareEvent(event, options, registry)));
}

async function prepareEvent(
  event: NewEvent,
  options: AppendOptions,
  registry: ReadonlyMap<string, EventDefinition>,
): Promise<PreparedEvent> {
  if (!event || typeof event.type !== 'string' || event.type.length === 0) {
    throw new InvalidArgumentError('event', `every event needs a non-empty string 'type', got ${JSON.stringify(event)}`);
  }
  const definition = definitionOf(event) ?? registry.get(event.type);
  const data = definition ? await validatePayload(event.type, definition.schema, event.data) : event.data;
  const id = event.eventId ?? uuidv7();
  if (!UUID.test(id)) throw new InvalidArgumentError('eventId', `${JSON.stringify(id)} is not a UUID`);
  return {
    id,
    type: event.type,
    data: jsonOrThrow(event.type, 'data', data),
    metadata: jsonOrThrow(event.type, 'metadata', { ...options.metadata, ...event.metadata }),
    causation: optionalText('causationId', event.causationId ?? options.causationId),
    correlation: optionalText('correlationId', event.correlationId ?? options.correlationId),
  };
}

function jsonOrThrow(eventType: string, part: 'data' | 'metadata', value: unknown): JsonValue {
  const result = toJsonValue(value);
  if (result.ok) return result.value;
  const path = part === 'data' ? result.problem.path : `metadata${result.problem.path ? `.${result.problem.path}` : ''}`;
  throw new PayloadNotSerializableError(eventType, path, result.problem.reason);
}

function optionalText(name: string, value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > 200) {
    throw new InvalidArgumentError(name, `${JSON.stringify(value)}; use a non-empty string of at most 200 characters`);
  }
  return value;
}

/**
 * Appends events to a stream through the caller's executor, inside the caller's transaction.
 * One round trip. On a version conflict the statement fails, which aborts the caller's
 * transaction: nothing of it is written.
 */
export async function appendToStream(
  executor: SqlExecutor,
  quotedSchema: string,
  streamId: string,
  prepared: readonly PreparedEvent[],
  expectedVersion: ExpectedVersion,
): Promise<AppendResult> {
  const expected = encodeExpectedVersion(expectedVersion);
  try {
    const rows = await (prepared.length === 1
      ? appendOne(executor, quotedSchema, streamId, expected, prepared[0]!)
      : queryNamed<{ version: string }>(executor, `herald:append:${quotedSchema}`, `SELECT ${quotedSchema}.append_events($1, $2, $3::jsonb) AS version`, [
          streamId,
          expected,
          JSON.stringify(prepared),
        ]));
    return { streamId, streamVersion: Number(rows[0]?.version), eventIds: prepared.map((e) => e.id) };
  } catch (error) {
    throw translateAppendError(error, streamId, expectedVersion, prepared);
  }
}

/** The common case, one event: typed parameters, no JSON array to unpack. */
function appendOne(executor: SqlExecutor, quotedSchema: string, streamId: string, expected: number, event: PreparedEvent) {
  return queryNamed<{ version: string }>(
    executor,
    `herald:append1:${quotedSchema}`,
    `SELECT ${quotedSchema}.append_event($1, $2, $3, $4, $5, $6, $7, $8) AS version`,
    [streamId, expected, event.id, event.type, JSON.stringify(event.data), JSON.stringify(event.metadata), event.causation, event.correlation],
  );
}

/** Maps the database's answer to a typed error; other errors pass through unchanged. */
function translateAppendError(error: unknown, streamId: string, expected: ExpectedVersion, prepared: readonly PreparedEvent[]): unknown {
  const e = error as { code?: string; constraint?: string; constraint_name?: string; detail?: string };
  if (e?.code === 'HE001') {
    return new WrongExpectedVersionError(streamId, expected, Number(e.detail));
  }
  if (e?.code === '23505') {
    const constraint = e.constraint ?? e.constraint_name;
    if (constraint === 'events_pkey') {
      const id = prepared.find((p) => e.detail?.includes(p.id))?.id ?? 'unknown';
      return new DuplicateEventIdError(id);
    }
    // Two appends with the same version: only reachable under REPEATABLE READ/SERIALIZABLE,
    // where the lock holder's snapshot predates the other append's commit.
    if (constraint === 'events_stream_version_key') return new WrongExpectedVersionError(streamId, expected, undefined);
  }
  return error;
}
