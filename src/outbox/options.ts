import { ConfigError } from '../errors.js';
import { type RelayOptions, type RelaySettings, relaySettings } from '../relay/options.js';
import { quoteIdent, validateExistingName, validateSqlName } from '../sql/identifiers.js';

/** Which column of the table holds each of Herald's fields (Debezium's outbox event router, in short). */
export interface OutboxColumns {
  /** Orders the rows: a `bigint`/`integer` filled from a sequence (`bigserial`, `serial`, identity) with `CACHE 1`. Default `id`. */
  readonly id: string;
  /** The aggregate the row is about: the message's stream (`subject`, ordering key). Default `aggregate_id`. */
  readonly aggregateId: string;
  /** The event type (`text`). Default `event_type`. */
  readonly type: string;
  /** The payload: `jsonb`, `json`, or `text` holding JSON (other text is sent as a JSON string). Default `payload`. */
  readonly payload: string;
  /** When it happened (`timestamptz`): the CloudEvent's `time`. Default `occurred_at`. */
  readonly occurredAt: string;
  /** Set by the relay once the broker confirmed the row (`timestamptz NULL`). Default `dispatched_at`. */
  readonly dispatchedAt: string;
  /** The event id (`uuid`), if the table has one; else a stable UUID is derived from the source, the table and the id. */
  readonly eventId?: string;
  /** Headers or metadata (`jsonb`/`json` object): the CloudEvent's `heraldmetadata` (a `traceparent` key becomes `traceparent`). */
  readonly metadata?: string;
}

/** The seed's column names: `id, aggregate_id, event_type, payload, occurred_at, dispatched_at`. */
export const DEFAULT_OUTBOX_COLUMNS: OutboxColumns = {
  id: 'id',
  aggregateId: 'aggregate_id',
  type: 'event_type',
  payload: 'payload',
  occurredAt: 'occurred_at',
  dispatchedAt: 'dispatched_at',
};

/** How to relay an application's own outbox table to a broker (see {@link OutboxColumns}). */
export interface OutboxRelayOptions extends Omit<RelayOptions, 'startFrom' | 'expectedConsumers' | 'collectAcknowledgements'> {
  /** The outbox table. */
  readonly table: string;
  /** Its schema. Default `public`. */
  readonly schema?: string;
  /** Column names, where they differ from the seed's ({@link DEFAULT_OUTBOX_COLUMNS}). */
  readonly columns?: Partial<OutboxColumns>;
  /** Durable name (checkpoint, lease, parked rows). Default `outbox:<schema>.<table>`. */
  readonly name?: string;
  /** The messages' source context (CloudEvents `source`, the broker's exchange/stream/key). Default: the Herald's context. */
  readonly source?: string;
  /** How often the table is polled for new rows. Default 100 ms. */
  readonly pollMs?: number;
}

/** Herald's fields, in the order problems with them are reported. */
export const OUTBOX_FIELDS = ['id', 'aggregateId', 'type', 'payload', 'occurredAt', 'dispatchedAt', 'eventId', 'metadata'] as const;
export type OutboxField = (typeof OUTBOX_FIELDS)[number];

/** Where an outbox table is and how its columns map, checked (no broker needed: `herald status` uses it). */
export interface OutboxTableSettings {
  readonly schema: string;
  readonly table: string;
  /** `"schema"."table"`. */
  readonly qualified: string;
  /** `schema.table`, for messages. */
  readonly display: string;
  readonly columns: OutboxColumns;
  /** The relay's durable name (checkpoint, lease, parked rows). */
  readonly name: string;
}

/** An outbox relay's options, checked, with every default filled in. */
export interface OutboxSettings extends OutboxTableSettings {
  readonly relay: RelaySettings;
  readonly source: string;
  readonly pollMs: number;
}

/** Checks the options of `herald.relayOutbox()`; bad ones throw `ConfigError` or `InvalidIdentifierError` naming the field. */
export function outboxSettings(options: OutboxRelayOptions, context: string): OutboxSettings {
  const table = outboxTableSettings(options);
  const pollMs = options.pollMs ?? 100;
  if (typeof pollMs !== 'number' || !Number.isFinite(pollMs) || pollMs <= 0) throw new ConfigError(`relayOutbox: pollMs must be a positive number of milliseconds, got ${JSON.stringify(pollMs)}`);
  return {
    ...table,
    relay: relaySettings({
      transport: options.transport,
      name: table.name,
      window: options.window,
      pages: options.pages,
      confirmTimeoutMs: options.confirmTimeoutMs,
      onRefused: options.onRefused,
      parking: options.parking,
    }),
    source: validateSqlName('outbox source', options.source ?? context),
    pollMs,
  };
}

/** The table part of {@link outboxSettings}: schema, table, column mapping and the relay's name. */
export function outboxTableSettings(options: Pick<OutboxRelayOptions, 'table' | 'schema' | 'columns' | 'name'>): OutboxTableSettings {
  if (!options || typeof options !== 'object') throw new ConfigError('relayOutbox: options must be an object');
  const schema = validateExistingName('outbox schema', options.schema ?? 'public');
  const table = validateExistingName('outbox table', options.table);
  if (options.columns !== undefined && (typeof options.columns !== 'object' || options.columns === null)) {
    throw new ConfigError('relayOutbox: columns must be an object mapping Herald fields to column names');
  }
  const given = (options.columns ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!(OUTBOX_FIELDS as readonly string[]).includes(key)) throw new ConfigError(`relayOutbox: unknown column mapping "${key}"; known: ${OUTBOX_FIELDS.join(', ')}`);
  }
  const columns = { ...DEFAULT_OUTBOX_COLUMNS } as Record<string, string>;
  for (const field of OUTBOX_FIELDS) {
    const value = given[field];
    if (value !== undefined) columns[field] = validateExistingName(`outbox column for ${field}`, value);
  }
  const display = `${schema}.${table}`;
  return {
    schema,
    table,
    qualified: `${quoteIdent(schema)}.${quoteIdent(table)}`,
    display,
    columns: columns as unknown as OutboxColumns,
    name: options.name ?? `outbox:${display}`,
  };
}
