import { InvalidArgumentError } from '../errors.js';

/**
 * What the operator APIs for parked events and parked consumer messages share: their argument
 * checks and how a caller waits for a request to be carried out.
 */

/** A page size from 1 to 10 000 (default 100), or {@link InvalidArgumentError}. */
export function pageLimit(limit: number | undefined): number {
  const value = limit ?? 100;
  if (!Number.isSafeInteger(value) || value < 1 || value > 10_000) throw new InvalidArgumentError('limit', 'use a whole number from 1 to 10000');
  return value;
}

/** A skip needs a reason: it is recorded for whoever looks at the history. */
export function requireReason(reason: unknown): string {
  if (typeof reason !== 'string' || reason.trim().length === 0) throw new InvalidArgumentError('reason', 'skipping needs a non-empty reason');
  return reason;
}

/**
 * Reads the row a request is about until `done` says its outcome is there (polling 5 ms, doubling
 * to 200 ms), or until `timeoutMs` passed; resolves to the last row read.
 */
export async function awaitRequest<Row>(read: () => Promise<Row>, done: (row: Row) => boolean, timeoutMs: number): Promise<{ row: Row; done: boolean }> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
    const row = await read();
    if (done(row)) return { row, done: true };
    if (Date.now() >= deadline) return { row, done: false };
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}
