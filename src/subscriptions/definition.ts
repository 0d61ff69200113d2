import type pg from 'pg';
import { ConfigError } from '../errors.js';
import { validateSubscriptionName } from '../sql/identifiers.js';
import type { EventMetadata, RecordedEvent } from '../events/types.js';
import type { ErrorPolicy, RetryOptions } from '../handlers/policy.js';

/**
 * Where a new subscription starts. Used only the first time a subscription name is seen on a log;
 * afterwards its stored checkpoint wins (as in Commanded).
 * - `'origin'`: every event from the first one;
 * - `'current'`: only events sequenced after the subscription is created;
 * - a number `n`: as if events `1…n` were already handled (the first delivered is `n + 1`).
 */
export type StartFrom = 'origin' | 'current' | number;

/** What a handler gets besides the event. */
export interface HandlerContext {
  /**
   * The open transaction this batch runs in. Write through it and your writes commit together
   * with the subscription's checkpoint: exactly-once effect. Do not COMMIT or ROLLBACK it.
   */
  readonly tx: pg.PoolClient;
  /** The subscription's name. */
  readonly subscription: string;
  /**
   * Aborted when the handler outlives `handlerTimeoutMs`: its transaction is then rolled back
   * and its connection closed, so stop any other work (HTTP calls, timers) when it fires.
   */
  readonly signal: AbortSignal;
}

export { ALREADY_SEEN } from '../handlers/failure.js';
import type { ALREADY_SEEN } from '../handlers/failure.js';

/** What `handle()` may return. */
export type HandleResult = void | typeof ALREADY_SEEN;

/**
 * Restarts a subscription its error policy stopped, like a supervisor: after `delayMs` (default
 * 1 000), doubling per restart since it last made progress, capped at `maxDelayMs` (default
 * 60 000); after `maxRestarts` (default unlimited) it stays failed for an operator.
 */
export interface RestartPolicy {
  readonly delayMs?: number;
  readonly maxDelayMs?: number;
  readonly maxRestarts?: number;
}

/** A durable, named subscription to a log: Commanded's event-handler contract. */
export interface SubscriptionDefinition {
  /** Unique on the log and stable across releases: the checkpoint is stored under it. */
  readonly name: string;
  /** Default `'origin'`. */
  readonly startFrom?: StartFrom;
  /** `'strong'` makes strongly consistent appends wait for this subscription. Default `'eventual'`. */
  readonly consistency?: 'eventual' | 'strong';
  /** Most events handled in one transaction. Default 100. */
  readonly batchSize?: number;
  /**
   * Decides what happens when `handle()` throws, rejects or times out: retry (now or after a
   * delay, carrying a context), skip, park, or stop. Default: {@link defaultErrorPolicy} with `retry`.
   */
  onError?: ErrorPolicy;
  /** Settings of the default policy (ignored when `onError` is given). */
  readonly retry?: RetryOptions;
  /**
   * What a parked (or retry-scheduled) event holds back: `'stream'` (default) — only the later
   * events of its own stream wait, all other streams keep flowing; `'subscription'` — everything
   * waits, for handlers that need the log's total order.
   */
  readonly parking?: 'stream' | 'subscription';
  /** A handler that has not settled after this long fails with `HandlerTimeoutError`. Default 30 000 ms. */
  readonly handlerTimeoutMs?: number;
  /**
   * When handlers did not write to the database (no transaction was opened), the checkpoint of an
   * eventual subscription is written at most this often instead of after every batch: a crash
   * then re-delivers at most this much, which such handlers see anyway (their effects are outside
   * the database, at least once). Batches that wrote move it in their own transaction, always.
   * `0` writes it after every batch. Default 100 ms.
   */
  readonly checkpointAfterMs?: number;
  /**
   * When the error policy says `stop`, restart by itself with backoff (any process that has the
   * subscription registered takes it when due). Without it, a stopped subscription stays failed
   * until an operator calls `herald.subscriptions.restart(name)`.
   */
  readonly restart?: RestartPolicy;
  /** Runs once each time this process takes the subscription, before its first event. A throw keeps it from starting. */
  init?(): void | Promise<void>;
  /**
   * Handles one event. Return nothing when handled, or `ALREADY_SEEN` when its effect was already
   * there (Commanded's `already_seen_event`: it counts as handled and is reported as such).
   * Throwing, rejecting or returning anything else fails it; the batch's writes roll back.
   */
  handle(event: RecordedEvent, metadata: EventMetadata, context: HandlerContext): HandleResult | Promise<HandleResult>;
}

/**
 * Stored state of a subscription. `stalled`: marked running, but its holder's lease expired
 * (process gone). `paused`: an operator paused it (see {@link SubscriptionStatus.paused}); a
 * failed subscription shows `failed` even while paused, since it needs a restart first.
 */
export type SubscriptionState = 'running' | 'stopped' | 'failed' | 'stalled' | 'paused';

/** One subscription as {@link Herald.status} reports it. */
export interface SubscriptionStatus {
  readonly name: string;
  /** Last handled event number. */
  readonly position: number;
  /** Events sequenced but not handled yet: `head - position`. */
  readonly lag: number;
  readonly state: SubscriptionState;
  /** Why it failed or stopped, when known. */
  readonly reason: string | null;
  readonly consistency: 'eventual' | 'strong';
  /** Process currently holding the lease (`host:pid:id`), if any. */
  readonly leaseOwner: string | null;
  readonly leaseExpiresAt: Date | null;
  readonly updatedAt: Date;
  /** Failed events waiting for a retry or an operator (scheduled, parked, or an operator action in progress). */
  readonly parked: number;
  /** Streams held back behind a failed event. */
  readonly blockedStreams: number;
  /** The latest handler failure, if any. */
  readonly lastError: { readonly message: string; readonly at: Date } | null;
  /**
   * A failed subscription restarts by itself at this time (its `restart` option); `null` while
   * failed means it waits for an operator's `herald.subscriptions.restart(name)`.
   */
  readonly restartAt: Date | null;
  /** Restarts since it last made progress. */
  readonly restarts: number;
  /**
   * Paused by an operator (`herald.subscriptions.pause`): when, by whom, why. `inEffect` once
   * its lease holder finished the batch in hand and handles nothing more (or nobody runs it).
   */
  readonly paused: { readonly at: Date; readonly by: string; readonly reason: string | null; readonly inEffect: boolean } | null;
  /** A reset waiting for the lease holder to carry it out between two batches. */
  readonly resetRequested: { readonly to: number; readonly by: string; readonly at: Date } | null;
  /** The last reset carried out: the checkpoint moved from `from` to `to`. */
  readonly lastReset: { readonly from: number; readonly to: number; readonly by: string; readonly at: Date } | null;
}

/**
 * Whether a subscription running in this process gets its work done: `healthy: false` while its
 * loop keeps failing on something other than a handler (database or broker unreachable); it
 * retries with backoff and becomes healthy again by itself.
 */
export interface SubscriptionHealth {
  readonly healthy: boolean;
  /** The failure that made it unhealthy (kept after recovery, for the record). */
  readonly lastError: string | null;
  /** Since when it is unhealthy, or when it last recovered. */
  readonly since: Date | null;
  /** Consecutive failed turns of the loop. */
  readonly failures: number;
}

/** Checks a subscription definition; a bad one throws `ConfigError` naming the subscription and the field. Resolves to its name. */
export function checkSubscription(definition: SubscriptionDefinition): string {
  const name = validateSubscriptionName(definition?.name);
  const fail = (message: string): never => {
    throw new ConfigError(`subscription '${name}': ${message}`);
  };
  if (typeof definition.handle !== 'function') fail('handle must be a function');
  const from = definition.startFrom;
  if (!(from === undefined || from === 'origin' || from === 'current' || (typeof from === 'number' && Number.isSafeInteger(from) && from >= 0))) {
    fail(`startFrom must be 'origin', 'current' or a whole number ≥ 0, got ${JSON.stringify(from)}`);
  }
  if (definition.consistency !== undefined && definition.consistency !== 'strong' && definition.consistency !== 'eventual') fail("consistency must be 'eventual' or 'strong'");
  if (definition.parking !== undefined && definition.parking !== 'stream' && definition.parking !== 'subscription') fail("parking must be 'stream' or 'subscription'");
  if (definition.onError !== undefined && typeof definition.onError !== 'function') fail('onError must be a function');
  if (definition.restart !== undefined) {
    if (typeof definition.restart !== 'object' || definition.restart === null) fail('restart must be { delayMs?, maxDelayMs?, maxRestarts? }');
    for (const [field, value] of Object.entries(definition.restart)) {
      if (!['delayMs', 'maxDelayMs', 'maxRestarts'].includes(field)) fail(`restart.${field} is not an option (delayMs, maxDelayMs, maxRestarts)`);
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) fail(`restart.${field} must be a number ≥ 0, got ${JSON.stringify(value)}`);
    }
  }
  for (const field of ['handlerTimeoutMs', 'batchSize'] as const) {
    const value = definition[field];
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)) fail(`${field} must be a positive number, got ${JSON.stringify(value)}`);
  }
  const every = definition.checkpointAfterMs;
  if (every !== undefined && (typeof every !== 'number' || !Number.isFinite(every) || every < 0)) fail(`checkpointAfterMs must be a number ≥ 0, got ${JSON.stringify(every)}`);
  return name;
}
