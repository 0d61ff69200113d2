import type { SqlExecutor } from '../sql/executor.js';

/**
 * The LISTEN/NOTIFY protocol of one context: every process running Herald on that context
 * listens on one channel, `herald_<context>`, and these short payloads say what happened.
 * Notifications only wake loops early: each loop also polls, so a lost one costs latency, never
 * correctness.
 */
export type Notification =
  /** The sequencer stamped events up to `head` (sent by `sequence_events()` in SQL as `s<head>`). */
  | { readonly kind: 'sequenced'; readonly head: number }
  /** A writer in another process committed appends: wake a sequencer. */
  | { readonly kind: 'committed' }
  /** A strong subscription moved its checkpoint: wake consistency waiters. */
  | { readonly kind: 'progressed' }
  /** A lease was released: standbys may take it now. */
  | { readonly kind: 'released' }
  /** An operator asked to retry or skip a parked event. */
  | { readonly kind: 'event-requested' }
  /** An operator asked to retry or skip a consumer's parked message. */
  | { readonly kind: 'message-requested' }
  /** An operator restarted a failed subscription or relay. */
  | { readonly kind: 'restart-requested' }
  /** An operator paused, resumed or reset a subscription or relay: its lease holder reads its row. */
  | { readonly kind: 'control-requested' }
  /** A payload this version does not know (sent by a newer one): loops read once, to be safe. */
  | { readonly kind: 'unknown' };

/** The payload of each notification without data; `sequenced` is `s<head>`. */
export const PAYLOADS = {
  committed: 'w',
  progressed: 'c',
  released: 'r',
  'event-requested': 'p',
  'message-requested': 'm',
  'restart-requested': 'x',
  'control-requested': 'o',
} as const satisfies Record<Exclude<Notification['kind'], 'sequenced' | 'unknown'>, string>;

const KINDS = new Map<string, Notification>(Object.entries(PAYLOADS).map(([kind, payload]) => [payload, { kind } as Notification]));

/** The channel every process of a context listens on. */
export function channelOf(context: string): string {
  return `herald_${context}`;
}

/** What a payload says. Pure. */
export function decodeNotification(payload: string): Notification {
  if (payload.startsWith('s')) {
    const head = Number(payload.slice(1));
    return Number.isSafeInteger(head) && head > 0 ? { kind: 'sequenced', head } : { kind: 'unknown' };
  }
  return KINDS.get(payload) ?? { kind: 'unknown' };
}

/** Sends a notification (outside any transaction of the caller's: it is delivered at once). */
export async function notify(db: SqlExecutor, channel: string, kind: keyof typeof PAYLOADS): Promise<void> {
  await db.query('SELECT pg_notify($1, $2)', [channel, PAYLOADS[kind]]);
}
