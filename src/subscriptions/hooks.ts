import type { RecordedEvent } from '../events/types.js';
import type { ErrorAction, FailureContext } from '../handlers/policy.js';
import type { Telemetry } from '../runtime/telemetry.js';

/** Timing knobs shared by the runners of one log. */
export interface RunnerTiming {
  /** Lease time to live. A dead holder is replaced after at most ttl + ttl/3. */
  readonly leaseTtlMs: number;
  /** Poll interval when no notification arrives. */
  readonly pollMs: number;
}

/** What a runner tells the outside world (Herald turns these into its events). */
export interface RunnerHooks {
  /** Spans around each batch (`subscription:batch`). */
  readonly telemetry: Telemetry;
  progress(name: string, position: number): void;
  attemptFailed(info: { subscription: string; event: RecordedEvent; error: unknown; failure: FailureContext; action: ErrorAction }): void;
  eventParked(info: { subscription: string; event: RecordedEvent; reason: string | null; fingerprint: string }): void;
  eventSkipped(info: { subscription: string; event: RecordedEvent; reason: string; byOperator: boolean }): void;
  parkedRetried(info: { subscription: string; event: RecordedEvent }): void;
  eventAlreadySeen(info: { subscription: string; event: RecordedEvent }): void;
  subscriptionStopped(info: { subscription: string; reason: string }): void;
}
