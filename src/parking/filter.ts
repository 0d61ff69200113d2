import { InvalidArgumentError } from '../errors.js';
import type { ParkedStatus } from './store.js';

/** Which parked events an operator means. Every field narrows; none means "all open heads". */
export interface ParkedFilter {
  readonly subscription?: string;
  readonly eventType?: string;
  readonly streamId?: string;
  readonly fingerprint?: string;
  /** Default: failed events still open (scheduled, parked, and those with an operator action in progress). */
  readonly status?: ParkedStatus | readonly ParkedStatus[];
  /** Parked at or after. */
  readonly since?: Date;
  /** Parked before. */
  readonly until?: Date;
}

/** The table a filter applies to: which filter field is which column, and its statuses. */
export interface FilterShape {
  /** Filter field → column, for the fields compared with `=`. */
  readonly columns: Readonly<Record<string, string>>;
  readonly statuses: readonly string[];
  /** The statuses meant when the filter names none. */
  readonly open: readonly string[];
  /** The column `since` and `until` compare with. */
  readonly timeColumn: string;
}

const PARKED_EVENTS: FilterShape = {
  columns: { subscription: 'subscription', eventType: 'event_type', streamId: 'stream_id', fingerprint: 'fingerprint' },
  statuses: ['waiting', 'scheduled', 'parked', 'retry_requested', 'skip_requested', 'retrying', 'retried', 'skipped'],
  open: ['scheduled', 'parked', 'retry_requested', 'skip_requested', 'retrying'],
  timeColumn: 'parked_at',
};

/**
 * Builds the WHERE clause for a filter on parked events, with its values as parameters starting
 * at `$first`. Pure; rejects unknown statuses and invalid dates with {@link InvalidArgumentError}.
 */
export function filterClause(filter: ParkedFilter, first = 1): { sql: string; values: unknown[] } {
  return buildFilter(filter as Record<string, unknown>, first, PARKED_EVENTS);
}

/** {@link filterClause} for any table of failures: every value a parameter, every column from `shape`. Pure. */
export function buildFilter(filter: Readonly<Record<string, unknown>>, first: number, shape: FilterShape): { sql: string; values: unknown[] } {
  const conditions: string[] = [];
  const values: unknown[] = [];
  const add = (value: unknown, condition: (placeholder: string) => string) => {
    values.push(value);
    conditions.push(condition(`$${first + values.length - 1}`));
  };
  for (const [key, column] of Object.entries(shape.columns)) {
    const value = filter[key];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.length === 0) throw new InvalidArgumentError(`filter.${key}`, 'must be a non-empty string');
    add(value, (p) => `${column} = ${p}`);
  }
  const status = filter.status as string | readonly string[] | undefined;
  const statuses = status === undefined ? shape.open : typeof status === 'string' ? [status] : status;
  if (!Array.isArray(statuses) || statuses.length === 0) throw new InvalidArgumentError('filter.status', 'must be a status or a non-empty list of statuses');
  for (const one of statuses) {
    if (!shape.statuses.includes(one)) throw new InvalidArgumentError('filter.status', `${JSON.stringify(one)}; use one of ${shape.statuses.join(', ')}`);
  }
  add([...statuses], (p) => `status = ANY(${p})`);
  for (const [key, op] of [
    ['since', '>='],
    ['until', '<'],
  ] as const) {
    const value = filter[key];
    if (value === undefined) continue;
    if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new InvalidArgumentError(`filter.${key}`, 'must be a valid Date');
    add(value, (p) => `${shape.timeColumn} ${op} ${p}`);
  }
  return { sql: conditions.join(' AND '), values };
}
