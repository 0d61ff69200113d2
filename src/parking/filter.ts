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

const STATUSES: readonly ParkedStatus[] = ['waiting', 'scheduled', 'parked', 'retry_requested', 'skip_requested', 'retrying', 'retried', 'skipped'];
const OPEN: readonly ParkedStatus[] = ['scheduled', 'parked', 'retry_requested', 'skip_requested', 'retrying'];

/**
 * Builds the WHERE clause for a filter, with its values as parameters starting at `$first`.
 * Pure; rejects unknown statuses and invalid dates with {@link InvalidArgumentError}.
 */
export function filterClause(filter: ParkedFilter, first = 1): { sql: string; values: unknown[] } {
  const conditions: string[] = [];
  const values: unknown[] = [];
  const add = (value: unknown, condition: (placeholder: string) => string) => {
    values.push(value);
    conditions.push(condition(`$${first + values.length - 1}`));
  };
  const columns = { subscription: 'subscription', eventType: 'event_type', streamId: 'stream_id', fingerprint: 'fingerprint' } as const;
  for (const key of Object.keys(columns) as (keyof typeof columns)[]) {
    const value = filter[key];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.length === 0) throw new InvalidArgumentError(`filter.${key}`, 'must be a non-empty string');
    add(value, (p) => `${columns[key]} = ${p}`);
  }
  const statuses = filter.status === undefined ? OPEN : typeof filter.status === 'string' ? [filter.status] : filter.status;
  for (const status of statuses) {
    if (!STATUSES.includes(status)) throw new InvalidArgumentError('filter.status', `${JSON.stringify(status)}; use one of ${STATUSES.join(', ')}`);
  }
  add([...statuses], (p) => `status = ANY(${p})`);
  for (const [key, op] of [
    ['since', '>='],
    ['until', '<'],
  ] as const) {
    const value = filter[key];
    if (value === undefined) continue;
    if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new InvalidArgumentError(`filter.${key}`, 'must be a valid Date');
    add(value, (p) => `parked_at ${op} ${p}`);
  }
  return { sql: conditions.join(' AND '), values };
}
