import { HandlerResultError, InvalidPolicyAnswerError } from '../errors.js';
import { type ErrorAction, type ErrorPolicy, type ErrorSummary, type FailureContext, fingerprint, summarizeError } from './policy.js';

/** One failed attempt, as kept in the history of a parked event or message. */
export interface AttemptRecord {
  readonly at: string;
  readonly type: string;
  readonly message: string;
}

/** What is stored about earlier failures of one event or message (none on its first failure). */
export interface FailureHistory {
  readonly attempts: readonly AttemptRecord[];
  readonly firstFailedAt: Date;
  readonly context: Readonly<Record<string, unknown>>;
}

/** One more failure, ready for the policy and for storage. */
export interface Failure {
  readonly summary: ErrorSummary;
  readonly fingerprint: string;
  /** The whole history, this attempt included (the newest last). */
  readonly attempts: readonly AttemptRecord[];
  /** What the policy is given. */
  readonly context: FailureContext;
}

/** Most attempts kept in a history (the attempt count goes on past it). */
export const HISTORY_LIMIT = 20;

/**
 * Adds a failure to the stored history: the attempt number counts every earlier failure, also
 * those of earlier processes, so attempt 3 after a crash is attempt 3. Pure.
 */
export function nextFailure(
  prior: FailureHistory | undefined,
  error: unknown,
  event: { readonly type: string; readonly createdAt: Date },
  now: Date = new Date(),
  priorCount: number = prior?.attempts.length ?? 0,
): Failure {
  const summary = summarizeError(error);
  const attempts = [...(prior?.attempts ?? []), { at: now.toISOString(), type: summary.type, message: summary.message }].slice(-HISTORY_LIMIT);
  return {
    summary,
    fingerprint: fingerprint(summary, event.type),
    attempts,
    context: {
      attempt: priorCount + 1,
      firstFailedAt: prior?.firstFailedAt ?? now,
      lastFailedAt: now,
      eventAgeMs: now.getTime() - event.createdAt.getTime(),
      context: { ...(prior?.context ?? {}) },
    },
  };
}

/**
 * The policy's answer, validated. A policy that throws or answers anything but retry / skip /
 * park / stop parks the event with an {@link InvalidPolicyAnswerError} as the reason, rather than
 * losing it or leaving it unsettled.
 */
export async function askPolicy<E>(policy: (error: unknown, event: E, failure: FailureContext) => ErrorAction | Promise<ErrorAction>, error: unknown, event: E, failure: FailureContext): Promise<ErrorAction> {
  let answer: unknown;
  try {
    answer = await policy(error, event, failure);
  } catch (thrown) {
    return { action: 'park', reason: new InvalidPolicyAnswerError(thrown, true).message };
  }
  return isErrorAction(answer) ? answer : { action: 'park', reason: new InvalidPolicyAnswerError(answer, false).message };
}

/** Whether `value` is a well-formed {@link ErrorAction}. Pure. */
export function isErrorAction(value: unknown): value is ErrorAction {
  const action = (value as { action?: unknown } | null)?.action;
  if (action === 'retry') {
    const { delayMs, context } = value as { delayMs?: unknown; context?: unknown };
    return typeof delayMs === 'number' && Number.isFinite(delayMs) && delayMs >= 0 && (context === undefined || (typeof context === 'object' && context !== null));
  }
  if (action === 'skip' || action === 'stop') return typeof (value as { reason?: unknown }).reason === 'string';
  if (action === 'park') {
    const reason = (value as { reason?: unknown }).reason;
    return reason === undefined || typeof reason === 'string';
  }
  return false;
}

/** Returned by a handler to say the event's effect is already there (Commanded's `already_seen_event`). */
export const ALREADY_SEEN = 'already-seen' as const;

/**
 * What a handler's return value means: `'handled'` for `undefined`, `'already-seen'` for
 * {@link ALREADY_SEEN}; anything else (a returned `Error`, a forgotten `await` of something
 * else) throws {@link HandlerResultError}, which fails the attempt like a throw would.
 */
export function handlerOutcome(returned: unknown): 'handled' | 'already-seen' {
  if (returned === undefined) return 'handled';
  if (returned === ALREADY_SEEN) return 'already-seen';
  throw new HandlerResultError(returned);
}

export type { ErrorPolicy };
