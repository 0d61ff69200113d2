import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { RecordedEvent } from '../events/types.js';

/**
 * What happened so far to the event being handled: Commanded's `FailureContext`.
 * `context` is yours: return it from `retry()` and you get it back on the next failure.
 */
export interface FailureContext {
  /** How many times handling this event has failed, this failure included (1 on the first). */
  readonly attempt: number;
  readonly firstFailedAt: Date;
  readonly lastFailedAt: Date;
  /** Age of the event (now − its createdAt) at this failure. */
  readonly eventAgeMs: number;
  /** Carried from one attempt to the next (starts as `{}`). */
  readonly context: Readonly<Record<string, unknown>>;
}

/** What to do after a handler failed. Build one with {@link retry}, {@link skip}, {@link park}, {@link stop}. */
export type ErrorAction =
  | { readonly action: 'retry'; readonly delayMs: number; readonly context?: Record<string, unknown> }
  | { readonly action: 'skip'; readonly reason: string }
  | { readonly action: 'park'; readonly reason?: string }
  | { readonly action: 'stop'; readonly reason: string };

/** Retry now, or after `delayMs`; `context` comes back in the next failure's {@link FailureContext}. */
export function retry(options: { delayMs?: number; context?: Record<string, unknown> } = {}): ErrorAction {
  return { action: 'retry', delayMs: options.delayMs ?? 0, ...(options.context ? { context: options.context } : {}) };
}

/** Give up on this event and move on; the reason is recorded. */
export function skip(reason: string): ErrorAction {
  return { action: 'skip', reason };
}

/** Park the event for review: its stream waits behind it, other streams keep flowing. */
export function park(reason?: string): ErrorAction {
  return reason === undefined ? { action: 'park' } : { action: 'park', reason };
}

/** Stop the subscription; the reason shows in its status. */
export function stop(reason: string): ErrorAction {
  return { action: 'stop', reason };
}

/** A subscription's `onError`: Commanded's `error/3`. */
export type ErrorPolicy = (error: unknown, event: RecordedEvent, failure: FailureContext) => ErrorAction | Promise<ErrorAction>;

/** Settings of {@link defaultErrorPolicy}. */
export interface RetryOptions {
  /** Attempts before parking, the first included. Default 5. */
  readonly maxAttempts?: number;
  /** First retry delay; doubles per attempt. Default 1000 ms. */
  readonly baseDelayMs?: number;
  /** Cap on one delay. Default 60 000 ms. */
  readonly maxDelayMs?: number;
  /** Events older than this are parked at once, never retried automatically. Default 1 hour. */
  readonly maxEventAgeMs?: number;
}

/** The delay before retry number `attempt` (1-based): capped exponential backoff with full jitter. Pure. */
export function backoffDelay(attempt: number, options: RetryOptions = {}, random: () => number = Math.random): number {
  const base = options.baseDelayMs ?? 1000;
  const cap = options.maxDelayMs ?? 60_000;
  const ceiling = Math.min(cap, base * 2 ** Math.max(0, attempt - 1));
  // Full jitter spreads the retries of many failing events instead of firing them in waves;
  // the floor of half the ceiling keeps a retry from coming back almost at once.
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * The policy used when a subscription has no `onError`: retry with capped exponential backoff
 * and jitter while the event is young enough and attempts remain, then park it for review.
 * An event already older than `maxEventAgeMs` is parked at its first failure.
 */
export function defaultErrorPolicy(options: RetryOptions = {}): ErrorPolicy {
  const maxAttempts = options.maxAttempts ?? 5;
  const maxEventAgeMs = options.maxEventAgeMs ?? 3_600_000;
  return (_error, _event, failure) => {
    if (failure.eventAgeMs > maxEventAgeMs) return park(`event older than ${maxEventAgeMs} ms: not retried automatically`);
    if (failure.attempt >= maxAttempts) return park(`failed ${failure.attempt} times`);
    return retry({ delayMs: backoffDelay(failure.attempt, options), context: { ...failure.context } });
  };
}

/** What Herald records about an error: type, message, stack. */
export interface ErrorSummary {
  readonly type: string;
  readonly message: string;
  readonly stack: string | null;
}

export function summarizeError(error: unknown): ErrorSummary {
  if (error instanceof Error) return { type: error.name || error.constructor.name, message: error.message, stack: error.stack ?? null };
  let message: string;
  try {
    message = typeof error === 'string' ? error : (JSON.stringify(error) ?? String(error));
  } catch {
    message = String(error);
  }
  return { type: typeof error, message, stack: null };
}

/**
 * Groups similar failures: a short hash of the error type, the first stack frame in application
 * code (not node internals, node_modules or Herald itself), and the event type. Line and column
 * numbers are dropped so a redeploy that shifts code keeps the same fingerprint. Pure.
 */
export function fingerprint(error: ErrorSummary, eventType: string): string {
  const frame = firstAppFrame(error.stack);
  return createHash('sha256').update(`${error.type}\n${frame}\n${eventType}`).digest('hex').slice(0, 16);
}

// Herald's own folder (src/ or dist/): its frames say nothing about where an application failed.
const HERALD_DIR = fileURLToPath(new URL('..', import.meta.url));

/** The first stack frame outside node internals, node_modules and Herald's own code, without line numbers. */
export function firstAppFrame(stack: string | null, heraldDir: string = HERALD_DIR): string {
  for (const line of (stack ?? '').split('\n').slice(1)) {
    const frame = line.trim();
    if (!frame.startsWith('at ')) continue;
    if (/node:internal|node_modules|\(node:/.test(frame) || frame.includes(heraldDir)) continue;
    return frame.replace(/:\d+:\d+\)?$/, '').replace(/^at /, '');
  }
  return '';
}
