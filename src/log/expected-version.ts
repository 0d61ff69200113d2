import { InvalidArgumentError } from '../errors.js';

/**
 * The version a stream must be at for an append to succeed:
 * - `'any'`: no check (appends serialise per stream, so versions still never collide);
 * - `'noStream'`: the stream must not exist yet;
 * - `'streamExists'`: the stream must already have at least one event;
 * - a number `n ≥ 0`: the stream's last version must be exactly `n` (`0` means "no stream").
 */
export type ExpectedVersion = 'any' | 'noStream' | 'streamExists' | number;

/** Encodes an {@link ExpectedVersion} for `append_events()`: -1 any, -2 exists, n ≥ 0 exact. */
export function encodeExpectedVersion(expected: ExpectedVersion): number {
  if (expected === 'any') return -1;
  if (expected === 'streamExists') return -2;
  if (expected === 'noStream') return 0;
  if (typeof expected === 'number' && Number.isSafeInteger(expected) && expected >= 0) return expected;
  throw new InvalidArgumentError(
    'expectedVersion',
    `${JSON.stringify(expected)}; use 'any', 'noStream', 'streamExists' or a whole number ≥ 0`,
  );
}
