import type pg from 'pg';
import { LogInconsistentError } from '../errors.js';
import type { RecordedEvent } from '../events/types.js';
import { askPolicy, type FailureHistory, nextFailure } from '../handlers/failure.js';
import type { ErrorAction, ErrorPolicy, FailureContext } from '../handlers/policy.js';
import { readEvent } from '../log/read.js';
import type { ParkedRow, ParkingStore } from '../parking/store.js';
import type { Transaction } from '../sql/transaction.js';
import type { Lease } from './lease.js';
import type { RunnerHooks } from './hooks.js';

/** Where an event being handled came from: the log (the checkpoint moves), or the parked table. */
export type Origin = { readonly kind: 'log' } | { readonly kind: 'parked'; readonly waiting: boolean };

/** How handling one failed event ended. */
export type Outcome = 'handled' | 'skipped' | 'blocked';

/** The policy said stop: unwinds the loop to mark the subscription failed. */
export class StopRequested extends Error {}

/** What a handler threw during a single attempt. */
export class HandlerThrew extends Error {
  constructor(readonly error: unknown) {
    super('handler failed');
  }
}

/** A handler failure inside a batch: which event, and what was thrown. */
export class BatchFailure {
  constructor(
    readonly index: number,
    readonly error: unknown,
  ) {}
}

/** What the failure flow needs from the runner it serves. */
export interface FailureHost {
  readonly name: string;
  /** False once the runner is stopping: long replays give way. */
  readonly running: boolean;
  /** One more attempt of `event` in its own transaction; resolves to what the handler threw, if it failed. */
  tryAgain(event: RecordedEvent, origin: Origin): Promise<{ error: unknown } | undefined>;
  inTransaction(work: (t: Transaction) => Promise<void>): Promise<unknown>;
  /** Records in `t` that the runner is done with `event` (checkpoint, or the parked row). */
  settle(t: Transaction, event: RecordedEvent, origin: Origin, handled: boolean): Promise<void>;
}

/**
 * A subscription's failure handling, in one module: the error policy's answers (retry now or
 * later, skip, park, stop), the streams a failed event blocks, operators' requests and due
 * retries, and the replay of the events that waited behind a resolved failure. Everything runs
 * in the loop of the one process that holds the subscription's lease.
 */
export class SubscriptionFailures {
  /** Streams held back behind a failed event (scheduled, parked, or with a request pending). */
  blocked = new Set<string>();

  constructor(
    private readonly host: FailureHost,
    private readonly pool: pg.Pool,
    private readonly quotedSchema: string,
    private readonly store: ParkingStore,
    private readonly lease: Lease,
    private readonly policy: ErrorPolicy,
    private readonly hooks: RunnerHooks,
  ) {}

  /** Loads the blocked streams (after taking the lease). */
  async load(): Promise<void> {
    this.blocked = await this.store.blockedStreams(this.pool);
  }

  /**
   * Applies the error policy to a failed event until it is handled, skipped, or blocks its stream
   * (scheduled for a later retry, or parked). `prior` is its parked row when it failed before.
   */
  async handleFailure(event: RecordedEvent, error: unknown, prior: ParkedRow | undefined, origin: Origin): Promise<Outcome> {
    let history: FailureHistory | undefined = prior?.first_failed_at ? { attempts: prior.attempts, firstFailedAt: prior.first_failed_at, context: prior.failure_context } : undefined;
    let count = prior?.attempt_count ?? 0;
    for (;;) {
      const step = nextFailure(history, error, { type: event.type, createdAt: event.metadata.createdAt }, new Date(), count);
      const { summary, context: failure } = step;
      const now = failure.lastFailedAt;
      let context = failure.context as Record<string, unknown>;
      const action = await this.decide(error, event, failure);
      this.hooks.attemptFailed({ subscription: this.host.name, event, error, failure, action });
      await this.lease.recordError(`event ${event.metadata.eventNumber} (${event.type}): ${summary.message}`).catch(() => {});
      if (action.action === 'retry' && action.context) context = action.context;
      if (action.action === 'retry' && action.delayMs <= 0) {
        const failed = await this.host.tryAgain(event, origin);
        if (!failed) return 'handled';
        error = failed.error;
        history = { attempts: step.attempts, firstFailedAt: failure.firstFailedAt, context };
        count = failure.attempt;
        continue;
      }
      // A stop leaves an event from the log unhandled before the checkpoint (retried at the next
      // start); an event that was already parked goes back to parked.
      if (action.action === 'stop' && origin.kind === 'log') throw this.stopRequested(event, action.reason);
      const status = action.action === 'retry' ? 'scheduled' : action.action === 'skip' ? 'skipped' : 'parked';
      const reason = action.action === 'retry' ? null : (action.reason ?? null);
      const print = step.fingerprint;
      await this.host.inTransaction(async (transaction) => {
        await this.store.recordFailure(transaction.tx, event, {
          status,
          retryAt: action.action === 'retry' ? new Date(Date.now() + action.delayMs) : null,
          error: summary,
          fingerprint: print,
          attempts: step.attempts,
          attemptCount: failure.attempt,
          failureContext: context,
          firstFailedAt: failure.firstFailedAt,
          lastFailedAt: now,
          reason,
        });
        await this.host.settle(transaction, event, origin, false);
      });
      if (action.action === 'stop') throw this.stopRequested(event, action.reason);
      if (status === 'skipped') {
        this.hooks.eventSkipped({ subscription: this.host.name, event, reason: reason ?? '', byOperator: false });
        return 'skipped';
      }
      this.blocked.add(event.metadata.streamId);
      if (status === 'parked') this.hooks.eventParked({ subscription: this.host.name, event, reason, fingerprint: print });
      return 'blocked';
    }
  }

  private stopRequested(event: RecordedEvent, reason: string): StopRequested {
    return new StopRequested(`event ${event.metadata.eventNumber} (${event.type}): ${reason}`);
  }

  /** The policy's answer, validated: nonsense or a throw parks the event (see {@link askPolicy}). */
  private decide(error: unknown, event: RecordedEvent, failure: FailureContext): Promise<ErrorAction> {
    return askPolicy(this.policy, error, event, failure);
  }

  /** Retries and operator requests that are due, then the events waiting behind each resolved one. */
  async handleDueHeads(): Promise<void> {
    for (const row of await this.store.dueHeads(this.pool)) {
      if (!this.host.running) return;
      const eventNumber = Number(row.event_number);
      const event = await readEvent(this.pool, this.quotedSchema, eventNumber);
      if (!event) throw new LogInconsistentError(`parked event ${eventNumber} of subscription '${this.host.name}' is missing from the log`);
      let outcome: Outcome;
      if (row.status === 'skip_requested') {
        let skipped = false;
        await this.host.inTransaction(async (transaction) => {
          skipped = await this.store.markSkipped(transaction.tx, eventNumber);
          await this.host.settle(transaction, event, { kind: 'parked', waiting: false }, false);
        });
        if (!skipped) continue;
        this.hooks.eventSkipped({ subscription: this.host.name, event, reason: row.reason ?? '', byOperator: true });
        outcome = 'skipped';
      } else {
        // The claim is what makes an operator's second request fail while this attempt runs.
        if (!(await this.store.claim(this.pool, eventNumber, row.status, this.lease.owner))) continue;
        outcome = await this.attemptParked(event, row, { kind: 'parked', waiting: false });
      }
      if (outcome !== 'blocked') await this.releaseStream(row.stream_id);
    }
  }

  /** Finishes what an interruption left half done: claims of a dead holder, streams left blocked by a resolved failure. */
  async repair(): Promise<void> {
    await this.store.releaseAbandonedClaims(this.pool);
    for (const streamId of await this.store.orphanedStreams(this.pool)) {
      if (!this.host.running) return;
      await this.releaseStream(streamId);
    }
  }

  /** Replays, in stream order, the events that waited behind a resolved failure. */
  async releaseStream(streamId: string): Promise<void> {
    for (;;) {
      const next = await this.store.nextWaiting(this.pool, streamId);
      if (!next) {
        this.blocked.delete(streamId);
        return;
      }
      if (next.status !== 'waiting') return; // another failed event heads the stream
      const event = await readEvent(this.pool, this.quotedSchema, Number(next.event_number));
      if (!event) throw new LogInconsistentError(`waiting event ${next.event_number} of subscription '${this.host.name}' is missing from the log`);
      if ((await this.attemptParked(event, undefined, { kind: 'parked', waiting: true })) === 'blocked') return;
    }
  }

  private async attemptParked(event: RecordedEvent, prior: ParkedRow | undefined, origin: Origin): Promise<Outcome> {
    const failed = await this.host.tryAgain(event, origin);
    return failed ? this.handleFailure(event, failed.error, prior, origin) : 'handled';
  }
}
