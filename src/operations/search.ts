import type pg from 'pg';
import { InvalidArgumentError } from '../errors.js';
import { decodeCursor, encodeCursor, pageSize } from './cursor.js';
import { date, text } from './filter.js';

/** What to look for in the log. Every field narrows; at least none is fine (the newest events). */
export interface SearchQuery {
  readonly eventId?: string;
  readonly eventNumber?: number;
  readonly streamId?: string;
  readonly correlationId?: string;
  readonly causationId?: string;
  readonly type?: string;
  /** Created at or after. */
  readonly since?: Date;
  /** Created before. */
  readonly until?: Date;
}

/** One event found, without its payload (read it with the event's journey). */
export interface SearchHit {
  /** `null` while not sequenced yet. */
  readonly eventNumber: number | null;
  readonly eventId: string;
  readonly streamId: string;
  readonly streamVersion: number;
  readonly type: string;
  readonly correlationId: string | null;
  readonly causationId: string | null;
  readonly createdAt: Date;
}

export interface SearchPage {
  readonly events: readonly SearchHit[];
  /** Pass as `cursor` for the next (older) page; `null` on the last page. */
  readonly nextCursor: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const QUERY_FIELDS = new Set(['eventId', 'eventNumber', 'streamId', 'correlationId', 'causationId', 'type', 'since', 'until']);
const CURSOR_SHAPE = { t: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/, id: /^[1-9]\d{0,18}$/ };

/**
 * Each condition a search may use: fixed SQL text, its value always a parameter. Which ones a
 * query uses depends on the fields it sets, never on their text.
 */
const CONDITIONS: Readonly<Record<keyof SearchQuery, (p: string) => string>> = {
  eventId: (p) => `e.event_id = ${p}::uuid`,
  eventNumber: (p) => `p.event_number = ${p}::bigint`,
  streamId: (p) => `e.stream_id = ${p}`,
  correlationId: (p) => `e.correlation_id = ${p}`,
  causationId: (p) => `e.causation_id = ${p}`,
  type: (p) => `e.event_type = ${p}`,
  since: (p) => `e.created_at >= ${p}::timestamptz`,
  until: (p) => `e.created_at < ${p}::timestamptz`,
};

/** Checks a search query from a caller (as parsed from JSON or a query string); throws {@link InvalidArgumentError}. Pure. */
export function validateSearchQuery(input: unknown): SearchQuery {
  if (input === undefined || input === null) return {};
  if (typeof input !== 'object' || Array.isArray(input)) throw new InvalidArgumentError('query', 'must be an object');
  const raw = input as Record<string, unknown>;
  for (const key of Object.keys(raw)) if (!QUERY_FIELDS.has(key)) throw new InvalidArgumentError(key, 'unknown search field');
  const query: { -readonly [K in keyof SearchQuery]: SearchQuery[K] } = {};
  if (raw.eventId !== undefined) {
    if (typeof raw.eventId !== 'string' || !UUID.test(raw.eventId)) throw new InvalidArgumentError('eventId', 'must be a UUID');
    query.eventId = raw.eventId.toLowerCase();
  }
  if (raw.eventNumber !== undefined) {
    if (typeof raw.eventNumber !== 'number' || !Number.isSafeInteger(raw.eventNumber) || raw.eventNumber < 1) throw new InvalidArgumentError('eventNumber', 'must be a whole number ≥ 1');
    query.eventNumber = raw.eventNumber;
  }
  if (raw.streamId !== undefined) query.streamId = text('streamId', raw.streamId, 1000);
  if (raw.correlationId !== undefined) query.correlationId = text('correlationId', raw.correlationId, 500);
  if (raw.causationId !== undefined) query.causationId = text('causationId', raw.causationId, 500);
  if (raw.type !== undefined) query.type = text('type', raw.type, 200);
  if (raw.since !== undefined) query.since = date('since', raw.since);
  if (raw.until !== undefined) query.until = date('until', raw.until);
  return query;
}

interface Row {
  id: string;
  event_number: string | null;
  event_id: string;
  stream_id: string;
  stream_version: string;
  event_type: string;
  correlation_id: string | null;
  causation_id: string | null;
  created_at: Date;
  created_key: string;
}

/**
 * Server-side search of one context's log, newest first, in keyset pages: ordered by
 * `(created_at, id)` descending, so each page is an index range read (v7's indexes on
 * `(created_at, id)`, `(event_type, created_at, id)` and `correlation_id`, the stream's and the
 * event id's own indexes). Committed events not sequenced yet are found too (number `null`).
 */
export class EventSearch {
  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
  ) {}

  /** One page of events matching `query`: at most 200 (default 50). */
  async search(input: SearchQuery = {}, page: { cursor?: string; limit?: number } = {}): Promise<SearchPage> {
    const query = validateSearchQuery(input);
    const limit = pageSize(page.limit, 50, 200);
    const { sql, values } = this.statement(query, page.cursor, limit + 1);
    const { rows } = await this.pool.query<Row>(sql, values);
    const events = rows.slice(0, limit);
    const last = events[events.length - 1];
    return {
      events: events.map(toHit),
      nextCursor: rows.length > limit && last ? encodeCursor(scopeOf(query), { t: last.created_key, id: last.id }) : null,
    };
  }

  /** The statement for a query (exposed for EXPLAIN in tests): fixed conditions, values as parameters. */
  statement(query: SearchQuery, cursor: string | undefined, limit: number): { sql: string; values: unknown[] } {
    const values: unknown[] = [];
    const where: string[] = [];
    for (const [field, condition] of Object.entries(CONDITIONS) as [keyof SearchQuery, (p: string) => string][]) {
      const value = query[field];
      if (value === undefined) continue;
      values.push(value);
      where.push(condition(`$${values.length}`));
    }
    if (cursor !== undefined) {
      const after = decodeCursor(cursor, scopeOf(query), CURSOR_SHAPE);
      values.push(after.t, after.id);
      where.push(`(e.created_at, e.id) < ($${values.length - 1}::timestamptz, $${values.length}::bigint)`);
    }
    values.push(limit);
    const sql = `SELECT e.id, p.event_number, e.event_id, e.stream_id, e.stream_version, e.event_type, e.correlation_id, e.causation_id, e.created_at,
                        to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_key
                   FROM ${this.schema}.events e ${query.eventNumber === undefined ? 'LEFT ' : ''}JOIN ${this.schema}.positions p ON p.id = e.id
                  ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
                  ORDER BY e.created_at DESC, e.id DESC LIMIT $${values.length}`;
    return { sql, values };
  }
}

/** What a cursor is bound to: the query's fields, dates as ISO text. */
function scopeOf(query: SearchQuery): unknown {
  return { search: 1, ...query, since: query.since?.toISOString(), until: query.until?.toISOString() };
}

function toHit(row: Row): SearchHit {
  return {
    eventNumber: row.event_number === null ? null : Number(row.event_number),
    eventId: row.event_id,
    streamId: row.stream_id,
    streamVersion: Number(row.stream_version),
    type: row.event_type,
    correlationId: row.correlation_id,
    causationId: row.causation_id,
    createdAt: row.created_at,
  };
}
