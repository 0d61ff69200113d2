import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';

/**
 * Opaque page cursors for keyset paging. A cursor carries the position after the last row of a
 * page and a digest of the query it belongs to, base64url-encoded JSON. Decoding checks both: a
 * cursor of another query, or one edited by hand, is refused with {@link InvalidArgumentError}
 * before anything reaches SQL (and the values in it are parameters even then).
 */

/** Longest cursor accepted. */
export const MAX_CURSOR_LENGTH = 512;

/** The checks each position field must pass, by name. */
export type CursorShape = Readonly<Record<string, RegExp>>;

/** Encodes a position (string fields only) for the query described by `scope`. Pure. */
export function encodeCursor(scope: unknown, position: Readonly<Record<string, string>>): string {
  return Buffer.from(JSON.stringify({ q: digest(scope), p: position }), 'utf8').toString('base64url');
}

/**
 * Decodes a cursor of the query `scope`, every field checked against `shape`. `maxLength` is for
 * positions holding long text (a saga instance's key); the default fits numbers and ids. Pure.
 */
export function decodeCursor(cursor: unknown, scope: unknown, shape: CursorShape, maxLength = MAX_CURSOR_LENGTH): Record<string, string> {
  if (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > maxLength || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
    throw new InvalidArgumentError('cursor', 'not a cursor this API returned');
  }
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidArgumentError('cursor', 'not a cursor this API returned');
  }
  const { q, p } = (decoded ?? {}) as { q?: unknown; p?: unknown };
  if (typeof p !== 'object' || p === null || Array.isArray(p)) throw new InvalidArgumentError('cursor', 'not a cursor this API returned');
  if (q !== digest(scope)) throw new InvalidArgumentError('cursor', 'belongs to another query: start again from the first page');
  const position = p as Record<string, unknown>;
  const keys = Object.keys(position);
  if (keys.length !== Object.keys(shape).length) throw new InvalidArgumentError('cursor', 'not a cursor this API returned');
  for (const [key, pattern] of Object.entries(shape)) {
    const value = position[key];
    if (typeof value !== 'string' || !pattern.test(value)) throw new InvalidArgumentError('cursor', 'not a cursor this API returned');
  }
  return position as Record<string, string>;
}

function digest(scope: unknown): string {
  return createHash('sha256').update(JSON.stringify(scope ?? null)).digest('base64url').slice(0, 16);
}

/** A page size from 1 to `max` (default `fallback`), or {@link InvalidArgumentError}. Pure. */
export function pageSize(limit: unknown, fallback: number, max: number): number {
  const value = limit ?? fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new InvalidArgumentError('limit', `use a whole number from 1 to ${max}`);
  }
  return value;
}
