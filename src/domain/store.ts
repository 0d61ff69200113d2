import { DEFINITION, definitionOf } from '../events/define.js';
import type { CustomMetadata, NewEvent, RecordedEvent } from '../events/types.js';
import type { AppendOptions, AppendResult } from '../log/append.js';
import type { SqlExecutor } from '../sql/executor.js';

/** What the domain layer needs of a context's log (a `Herald` is one). */
export interface EventStore {
  transaction<T>(fn: (tx: import('pg').PoolClient) => Promise<T>): Promise<T>;
  append(tx: SqlExecutor, streamId: string, events: NewEvent | readonly NewEvent[], options?: AppendOptions): Promise<AppendResult>;
  readStream(streamId: string, afterVersion?: number, tx?: SqlExecutor): Promise<RecordedEvent[]>;
}

/**
 * Where a command came from, carried onto the events it causes: `causationId` is the command's id
 * (what caused them), `correlationId` the conversation it belongs to (the command's own correlation,
 * else its id), as in Commanded and EventStoreDB.
 */
export interface CommandContext {
  /** The command's id; becomes the events' `causationId`. */
  readonly commandId?: string;
  /** Overrides the events' `causationId` (e.g. the id of the event a process manager reacted to). */
  readonly causationId?: string;
  readonly correlationId?: string;
  /** Merged into every event's custom metadata. */
  readonly metadata?: CustomMetadata;
}

/** The events with the command's causation, correlation and metadata (what an event sets itself wins). */
export function stamp(events: readonly NewEvent[], context: CommandContext = {}): NewEvent[] {
  const causationId = context.causationId ?? context.commandId;
  const correlationId = context.correlationId ?? context.commandId;
  return events.map((event) => {
    const stamped: NewEvent = {
      ...event,
      causationId: event.causationId ?? causationId,
      correlationId: event.correlationId ?? correlationId,
      metadata: context.metadata || event.metadata ? { ...context.metadata, ...event.metadata } : undefined,
    };
    // Keep the definition `create()` left on it, so the append still validates the payload.
    const definition = definitionOf(event);
    if (definition) Object.defineProperty(stamped, DEFINITION, { value: definition });
    return stamped;
  });
}
