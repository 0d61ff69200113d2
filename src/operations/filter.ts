import { InvalidArgumentError } from '../errors.js';
import { buildFilter, type FilterShape } from '../parking/filter.js';
import { validateSubscriptionName } from '../sql/identifiers.js';

/** What operators act on: parked events of subscriptions and relays, or stored messages of consumers. */
export type FailureTarget = 'events' | 'messages';

/**
 * Which failures an operator means, for either target. Every field narrows; none means every
 * open failure of the target.
 */
export interface FailureFilter {
  /** The subscription or relay (target `events`), or the consumer (target `messages`). */
  readonly owner?: string;
  readonly eventType?: string;
  readonly streamId?: string;
  /** A failure fingerprint, or `null` for failures without one (a malformed message, say). */
  readonly fingerprint?: string | null;
  /** Parked (events) or received (messages) at or after. */
  readonly since?: Date;
  /** Parked (events) or received (messages) before. */
  readonly until?: Date;
}

/** A filter as stored with an action and shown in the audit log: dates as ISO strings. */
export type StoredFilter = { readonly [K in keyof FailureFilter]?: K extends 'since' | 'until' ? string : FailureFilter[K] };

/** The statuses a bulk action takes and acts on: failed and waiting for a retry or an operator. */
export const ACTIONABLE = ['parked', 'scheduled'] as const;

/** The statuses of an open failure: actionable, or an operator's request (or an attempt) in progress. */
export const OPEN: Readonly<Record<FailureTarget, readonly string[]>> = {
  events: ['scheduled', 'parked', 'retry_requested', 'skip_requested', 'retrying'],
  messages: ['scheduled', 'parked', 'retry_requested', 'skip_requested'],
};

/** Table and columns of each target; every name here is a constant, never from a request. */
export const TARGETS: Readonly<Record<FailureTarget, { table: string; owner: string; key: string; keyType: 'bigint' | 'text'; shape: FilterShape }>> = {
  events: {
    table: 'parked_events',
    owner: 'subscription',
    key: 'event_number',
    keyType: 'bigint',
    shape: {
      columns: { owner: 'subscription', eventType: 'event_type', streamId: 'stream_id', fingerprint: 'fingerprint' },
      statuses: ['waiting', 'scheduled', 'parked', 'retry_requested', 'skip_requested', 'retrying', 'retried', 'skipped'],
      open: OPEN.events,
      timeColumn: 'parked_at',
    },
  },
  messages: {
    table: 'consumer_messages',
    owner: 'consumer',
    key: 'message_key',
    keyType: 'text',
    shape: {
      columns: { owner: 'consumer', eventType: 'event_type', streamId: 'stream_id', fingerprint: 'fingerprint' },
      statuses: ['held', 'scheduled', 'parked', 'retry_requested', 'skip_requested', 'retried', 'skipped'],
      open: OPEN.messages,
      timeColumn: 'received_at',
    },
  },
};

const FILTER_FIELDS = new Set(['owner', 'eventType', 'streamId', 'fingerprint', 'since', 'until']);
const FINGERPRINT = /^[0-9a-f]{16}$/;

/** Validates a failure target name. Pure. */
export function validateTarget(value: unknown): FailureTarget {
  if (value !== 'events' && value !== 'messages') throw new InvalidArgumentError('target', `${JSON.stringify(value)}; use 'events' or 'messages'`);
  return value;
}

/**
 * Checks a filter from a caller (an object, as parsed from JSON or built by code): only known
 * fields, each of its kind; dates may be `Date`s or ISO-8601 strings. Throws
 * {@link InvalidArgumentError} naming the field. Pure.
 */
export function validateFilter(input: unknown): FailureFilter {
  if (input === undefined || input === null) return {};
  if (typeof input !== 'object' || Array.isArray(input)) throw new InvalidArgumentError('filter', 'must be an object');
  const raw = input as Record<string, unknown>;
  for (const key of Object.keys(raw)) if (!FILTER_FIELDS.has(key)) throw new InvalidArgumentError(`filter.${key}`, 'unknown field');
  const filter: { -readonly [K in keyof FailureFilter]: FailureFilter[K] } = {};
  if (raw.owner !== undefined) filter.owner = validateSubscriptionName(raw.owner);
  if (raw.eventType !== undefined) filter.eventType = text('filter.eventType', raw.eventType, 200);
  if (raw.streamId !== undefined) filter.streamId = text('filter.streamId', raw.streamId, 1000);
  if (raw.fingerprint === null) filter.fingerprint = null;
  else if (raw.fingerprint !== undefined) {
    if (typeof raw.fingerprint !== 'string' || !FINGERPRINT.test(raw.fingerprint)) throw new InvalidArgumentError('filter.fingerprint', 'use 16 hexadecimal digits, or null');
    filter.fingerprint = raw.fingerprint;
  }
  if (raw.since !== undefined) filter.since = date('filter.since', raw.since);
  if (raw.until !== undefined) filter.until = date('filter.until', raw.until);
  return filter;
}

/** The filter as stored (JSON): dates as ISO strings, absent fields left out. Pure. */
export function storedFilter(filter: FailureFilter): StoredFilter {
  const { since, until, ...rest } = filter;
  return { ...rest, ...(since ? { since: since.toISOString() } : {}), ...(until ? { until: until.toISOString() } : {}) };
}

/**
 * The WHERE clause of a filter on a target's table, restricted to `statuses`, with its values as
 * parameters from `$first`. Column names come from {@link TARGETS}; every value is a parameter. Pure.
 */
export function filterWhere(target: FailureTarget, filter: FailureFilter, statuses: readonly string[], first = 1): { sql: string; values: unknown[] } {
  const { fingerprint, ...rest } = filter;
  const built = buildFilter({ ...rest, ...(fingerprint ? { fingerprint } : {}), status: [...statuses] }, first, TARGETS[target].shape);
  return fingerprint === null ? { sql: `${built.sql} AND fingerprint IS NULL`, values: built.values } : built;
}

/** A non-empty string without NUL of at most `max` characters. Pure. */
export function text(field: string, value: unknown, max: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max || value.includes('\u0000')) {
    throw new InvalidArgumentError(field, `use a non-empty string of at most ${max} characters`);
  }
  return value;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/** A `Date`, or an ISO-8601 date or time (UTC unless it names a zone). Pure. */
export function date(field: string, value: unknown): Date {
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value;
  if (typeof value === 'string' && ISO_TIME.test(value)) {
    const zoned = /T/.test(value) && !/(Z|[+-]\d{2}:\d{2})$/.test(value) ? `${value}Z` : value;
    const parsed = new Date(zoned);
    if (!Number.isNaN(parsed.getTime())) return parsed;
  }
  throw new InvalidArgumentError(field, 'use an ISO-8601 date or time, e.g. 2024-05-01T12:00:00Z');
}
