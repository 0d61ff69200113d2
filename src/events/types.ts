import type { JsonValue } from './json.js';

/** Custom metadata stored with an event: any JSON object. */
export type CustomMetadata = { [key: string]: JsonValue };

/** An event on its way into the log (see {@link EventDefinition.create}). */
export interface NewEvent<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
  /** UUID; a time-ordered UUIDv7 is generated when omitted. Appending an id that is already in the log fails. */
  readonly eventId?: string;
  readonly causationId?: string;
  readonly correlationId?: string;
  readonly metadata?: CustomMetadata;
}

/** Everything the log knows about a stored event, besides its type and data. */
export interface EventMetadata {
  /** Globally unique id (UUID). */
  readonly eventId: string;
  /** Global position in the log: gapless, starts at 1, in commit order. */
  readonly eventNumber: number;
  readonly streamId: string;
  /** Position within the stream: 1, 2, 3, … */
  readonly streamVersion: number;
  readonly causationId: string | null;
  readonly correlationId: string | null;
  /** When the appending transaction started (PostgreSQL `now()`), UTC. */
  readonly createdAt: Date;
  /** The caller's own metadata. */
  readonly custom: CustomMetadata;
}

/** An event read back from the log. */
export interface RecordedEvent<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
  readonly metadata: EventMetadata;
}
