import { AdminRequestError } from '../errors.js';
import { type ActionKind } from '../operations/bulk.js';
import { type FailureFilter, type FailureTarget, validateFilter, validateTarget } from '../operations/filter.js';
import { type SearchQuery, validateSearchQuery } from '../operations/search.js';

/**
 * Turns request fields (strings from a query string or form, or values from a JSON body) into the
 * typed inputs of the operations, checked. A bad value is a 400 naming the field; the operations
 * check again (their own `InvalidArgumentError`s are 400s too).
 */
export type Input = Readonly<Record<string, unknown>>;

/** A field that must be there. */
export function required(fields: Input, name: string): unknown {
  const value = fields[name];
  if (value === undefined || value === '') throw new AdminRequestError(400, `field '${name}' is required`, name);
  return value;
}

/** A string field (optional unless `required`), at most `max` characters. */
export function stringField(fields: Input, name: string, max = 1000): string | undefined {
  const value = fields[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || value.length > max || value.includes('\u0000')) throw new AdminRequestError(400, `field '${name}' must be text of at most ${max} characters`, name);
  return value;
}

/** A whole number ≥ 1 (digits in a form, a number in JSON). */
export function positiveInt(fields: Input, name: string): number | undefined {
  const value = fields[name];
  if (value === undefined || value === '') return undefined;
  const number = typeof value === 'string' && /^[1-9]\d{0,15}$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 1) throw new AdminRequestError(400, `field '${name}' must be a whole number ≥ 1`, name);
  return number;
}

/** A whole number ≥ 1 that must be there. */
export function requiredInt(fields: Input, name: string): number {
  const value = positiveInt(fields, name);
  if (value === undefined) throw new AdminRequestError(400, `field '${name}' is required`, name);
  return value;
}

/** A page size: 1 to `max`. A larger one is refused, not capped silently. */
export function limitField(fields: Input, max: number): number | undefined {
  const limit = positiveInt(fields, 'limit');
  if (limit !== undefined && limit > max) throw new AdminRequestError(400, `field 'limit' must be at most ${max}`, 'limit');
  return limit;
}

export function targetField(fields: Input): FailureTarget {
  return validateTarget(fields.target ?? 'events');
}

export function kindField(fields: Input): ActionKind {
  const kind = required(fields, 'kind');
  if (kind !== 'retry' && kind !== 'skip') throw new AdminRequestError(400, "field 'kind' must be 'retry' or 'skip'", 'kind');
  return kind;
}

/** The fields of a failure filter, for query strings and forms. */
export const FILTER_FIELDS = ['owner', 'eventType', 'streamId', 'fingerprint', 'since', 'until'] as const;

/** A failure filter from fields: `fingerprint=none` means failures without one. */
export function filterFromFields(fields: Input): FailureFilter {
  const raw: Record<string, unknown> = {};
  for (const name of FILTER_FIELDS) if (fields[name] !== undefined && fields[name] !== '') raw[name] = fields[name];
  if (raw.fingerprint === 'none') raw.fingerprint = null;
  return validateFilter(raw);
}

/** A filter from a JSON body's `filter` object (or none). */
export function filterFromJson(value: unknown): FailureFilter {
  return validateFilter(value ?? {});
}

/** The fields of a search, for query strings and forms. */
export const SEARCH_FIELDS = ['eventId', 'eventNumber', 'streamId', 'correlationId', 'causationId', 'type', 'since', 'until'] as const;

/** A search from fields (an event number arrives as digits). */
export function searchFromFields(fields: Input): SearchQuery {
  const raw: Record<string, unknown> = {};
  for (const name of SEARCH_FIELDS) if (fields[name] !== undefined && fields[name] !== '') raw[name] = fields[name];
  if (raw.eventNumber !== undefined) raw.eventNumber = positiveInt(fields, 'eventNumber');
  return validateSearchQuery(raw);
}
