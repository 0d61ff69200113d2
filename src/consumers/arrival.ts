/**
 * Where a message stands against its stream, decided without I/O: the consumer locks the
 * stream's row, reads its state, and asks {@link decideArrival} what to do. Every case of held /
 * gap / blocked / duplicate lives here, with its unit spec beside it.
 */

/** A stream's state for one consumer, read under its row lock. */
export interface StreamPosition {
  /** Last stream version handled (or skipped); 0 for a stream never seen. */
  readonly version: number;
  /**
   * Lowest version of this stream that failed and still blocks it (scheduled for a retry,
   * parked, or with an operator request pending), if any: later versions wait behind it.
   */
  readonly blockedVersion: number | null;
}

/** Where a message comes from when it is decided. */
export type ArrivalOrigin =
  /** Fresh from the broker (or redelivered by it). */
  | 'broker'
  /** A stored held message, replayed now that earlier versions may be there. */
  | 'held'
  /** The stored failed message that blocks its stream: a due retry or an operator's request. */
  | 'blocking'
  /** An operator's retry that accepts a gap: handle it even if earlier versions are missing. */
  | 'forced';

/** What to do with a message. */
export type ArrivalDecision =
  /** Its version was handled before: drop it (a stored row is resolved as stale). */
  | { readonly kind: 'duplicate'; readonly why: 'handled' | 'redelivery-of-blocked' }
  /** Earlier versions are missing, or a failed one blocks the stream: store it until they are settled. */
  | { readonly kind: 'hold'; readonly missing: { readonly from: number; readonly to: number } | null }
  /** Its turn: handle it now. */
  | { readonly kind: 'handle' };

/** How a consumer orders what it receives. */
export interface OrderingRules {
  /** `'stream'`: each stream in version order; `'none'`: as they come, deduplicated by the inbox only. */
  readonly ordering: 'stream' | 'none';
  /** Where a stream never seen starts: at version 1 (`'origin'`), or at whatever arrives first (`'arrival'`). */
  readonly startFrom: 'origin' | 'arrival';
}

/**
 * With `startFrom: 'arrival'`, a stream never handled starts just before the version that
 * arrived, so a consumer joining a running system does not wait for history it will never get.
 */
export function startingPoint(stream: StreamPosition, arrived: number, rules: OrderingRules): StreamPosition {
  if (rules.startFrom === 'arrival' && stream.version === 0 && stream.blockedVersion === null) return { version: arrived - 1, blockedVersion: null };
  return stream;
}

/** Decides a message of stream version `version` against its locked stream. Pure. */
export function decideArrival(stream: StreamPosition, version: number, origin: ArrivalOrigin, rules: OrderingRules): ArrivalDecision {
  if (rules.ordering === 'none') return { kind: 'handle' };
  const at = startingPoint(stream, version, rules);
  if (version <= at.version) return { kind: 'duplicate', why: 'handled' };
  // A forced retry accepts missing versions, never an earlier version that failed and waits for
  // its retry: handling this one first would move the stream past that one, which would be lost.
  if (origin === 'forced') return at.blockedVersion !== null && at.blockedVersion < version ? { kind: 'hold', missing: null } : { kind: 'handle' };
  if (at.blockedVersion !== null) {
    // The blocking message itself comes back only as a due retry or an operator's request;
    // from the broker it is a redelivery of what is already stored.
    if (version === at.blockedVersion) return origin === 'blocking' ? { kind: 'handle' } : { kind: 'duplicate', why: 'redelivery-of-blocked' };
    if (version > at.blockedVersion) return { kind: 'hold', missing: null };
  }
  if (version > at.version + 1) return { kind: 'hold', missing: { from: at.version + 1, to: version - 1 } };
  return { kind: 'handle' };
}

/** What the sweeper does with the lowest held message of a stream. */
export type GapDecision =
  | { readonly kind: 'ready' }
  | { readonly kind: 'wait' }
  | { readonly kind: 'park'; readonly reason: string };

/**
 * The lowest held message of a stream that nothing failed blocks: handle it when its turn came,
 * park it (naming the missing versions) once it waited longer than `reorderWaitMs`, else wait. Pure.
 */
export function decideGap(stream: StreamPosition, heldVersion: number, waitedMs: number, reorderWaitMs: number): GapDecision {
  if (stream.blockedVersion !== null && stream.blockedVersion < heldVersion) return { kind: 'wait' };
  if (heldVersion <= stream.version + 1) return { kind: 'ready' };
  if (waitedMs < reorderWaitMs) return { kind: 'wait' };
  const first = stream.version + 1;
  const last = heldVersion - 1;
  const missing = first === last ? `${first}` : `${first}…${last}`;
  return { kind: 'park', reason: `stream version ${missing} did not arrive within ${reorderWaitMs} ms` };
}
