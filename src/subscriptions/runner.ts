import type pg from 'pg';
import { describe, HandlerSqlError, HandlerTimeoutError, SubscriptionInitError } from '../errors.js';
import type { RecordedEvent } from '../events/types.js';
import { handlerOutcome } from '../handlers/failure.js';
import { defaultErrorPolicy, type ErrorPolicy } from '../handlers/policy.js';
import type { LogPages } from '../log/pages.js';
import { ParkingStore } from '../parking/store.js';
import type { Logger } from '../runtime/logger.js';
import { Watchdog } from '../runtime/watchdog.js';
import { transaction, type Transaction } from '../sql/transaction.js';
import type { RestartPolicy, SubscriptionDefinition } from './definition.js';
import type { Lease } from './lease.js';
import { BatchFailure, type FailureHost, HandlerThrew, type Origin, StopRequested, SubscriptionFailures } from './failures.js';
import { LeaseHolding } from './holding.js';
import { ControlRequests } from './requests.js';

export type { RunnerHooks, RunnerTiming } from './hooks.js';
import type { RunnerHooks, RunnerTiming } from './hooks.js';
import { type FailureVerdict, LogLoop } from './loop.js';

/**
 * Runs one subscription in this process: takes its lease (or waits as a standby), calls `init()`,
 * then reads the log from the checkpoint — catch-up and live are the same loop, woken by the
 * sequencer — and handles each batch in one transaction that also moves the checkpoint.
 *
 * Failures follow the subscription's error policy. Every attempt of every event — first tries,
 * automatic retries and operators' retries — runs here, in this one loop of the lease holder, so
 * no two attempts of an event can ever overlap. A parked event holds back only its own stream:
 * later events of that stream are stored as "waiting" behind it and replayed in order once it is
 * retried or skipped.
 */
export class SubscriptionRunner extends LogLoop implements FailureHost {
  private position = 0;
  /** The checkpoint as stored; behind `position` while a deferred checkpoint waits (see `checkpointAfterMs`). */
  private stored = 0;
  /** When the position first moved past `stored` without writing it; undefined when they match. */
  private unflushedSince: number | undefined;
  private readonly checkpointAfterMs: number;
  private readonly failures: SubscriptionFailures;
  /** Checkpoint written in the open transaction; becomes `position` when it commits. */
  private pendingPosition: number | undefined;
  /** Whether `pendingPosition` was written (and becomes `stored` on commit) or deferred. */
  private pendingWritten = false;
  /** During catch-up, the next page is read while the current one is handled. */
  private readAhead: { after: number; events: Promise<RecordedEvent[]> } | undefined;
  /** Watches handler calls for their timeout (one timer per runner, not one per event). */
  private readonly watchdog: Watchdog;
  /** Events whose handler said ALREADY_SEEN in the open transaction; reported once it commits. */
  private seenInTransaction: RecordedEvent[] = [];
  /**
   * After a takeover or an error, work may have been left half done: a claimed attempt that never
   * finished, or events waiting behind a failure that was resolved just before the interruption.
   */
  private readonly batchSize: number;
  private readonly policy: ErrorPolicy;
  private readonly timeoutMs: number;
  private readonly store: ParkingStore;
  protected readonly holding: LeaseHolding;
  protected readonly requests: ControlRequests;
  protected readonly kind = 'subscription';
  protected readonly leaseTtlMs: number;

  constructor(
    readonly definition: SubscriptionDefinition,
    private readonly pool: pg.Pool,
    private readonly quotedSchema: string,
    private readonly lease: Lease,
    private readonly pages: LogPages,
    private readonly timing: RunnerTiming,
    protected readonly logger: Logger,
    private readonly hooks: RunnerHooks,
    private readonly progressChannel: string | undefined,
  ) {
    super();
    this.leaseTtlMs = timing.leaseTtlMs;
    this.batchSize = definition.batchSize ?? 100;
    this.policy = definition.onError ?? defaultErrorPolicy(definition.retry);
    this.timeoutMs = definition.handlerTimeoutMs ?? 30_000;
    // Strong consistency waiters in other processes watch the stored checkpoint: never deferred.
    this.checkpointAfterMs = progressChannel ? 0 : (definition.checkpointAfterMs ?? 100);
    this.watchdog = new Watchdog(this.timeoutMs);
    this.holding = new LeaseHolding(lease, logger, (controls) => this.renewed(controls));
    this.requests = new ControlRequests(pool, quotedSchema, definition.name);
    this.store = new ParkingStore(quotedSchema, definition.name);
    this.failures = new SubscriptionFailures(this, pool, quotedSchema, this.store, lease, this.policy, hooks);
  }

  /** The context (schema) name, for telemetry. */
  private get context(): string {
    return this.quotedSchema.slice(1, -1);
  }

  get name(): string {
    return this.definition.name;
  }

  protected override async failed(error: unknown): Promise<FailureVerdict> {
    // With a restart policy the loop goes on: the lease is taken again once the restart is due.
    if (error instanceof StopRequested) return (await this.fail(error.message, this.definition.restart)) ? 'again' : 'end';
    return undefined;
  }

  protected async finish(): Promise<void> {
    if (this.phase !== 'running') return;
    await this.flushCheckpoint(true).catch((error) => this.logger.warn({ err: error, subscription: this.name }, 'herald: checkpoint write failed'));
    this.dropLease();
    await this.lease.release('stopped', null).catch((error) => this.logger.warn({ err: error }, 'herald: lease release failed'));
    this.phase = 'stopped';
  }


  /** Before a pause or a reset: the deferred checkpoint is written, the page read ahead dropped. */
  protected async quiesce(): Promise<void> {
    this.readAhead = undefined;
    await this.flushCheckpoint(true);
  }

  protected positions(): { stored: number; handled: number } {
    return { stored: this.stored, handled: this.position };
  }

  /** After a reset: both the stored and the handled position are `to`; blocked streams as the parked rows now say. */
  protected async movedTo(to: number): Promise<void> {
    this.position = to;
    this.stored = to;
    this.unflushedSince = undefined;
    this.readAhead = undefined;
    this.mustRead = true;
    this.needsRepair = true;
    await this.failures.load();
    this.hooks.progress(this.name, to);
  }

  /** One turn of the loop: due retries and operator requests first, then new events of the log. */
  protected async step(): Promise<void> {
    if (this.needsRepair) {
      await this.failures.repair();
      this.needsRepair = !this.running;
    }
    if (this.failures.blocked.size > 0) await this.failures.handleDueHeads();
    if (!this.running) return;
    await this.flushCheckpoint(false);
    const holdAll = this.definition.parking === 'subscription' && this.failures.blocked.size > 0;
    if (!holdAll && (this.mustRead || this.position < this.knownHead)) {
      this.mustRead = false;
      const batch = await this.nextBatch();
      if (batch.length > 0) {
        const from = this.position;
        await this.hooks.telemetry.span('subscription:batch', { context: this.context, subscription: this.name, events: batch.length, from }, () => this.handleBatch(batch));
        // A full page means more may be there; a partial one read everything that was visible.
        if (batch.length === this.batchSize) this.mustRead = true;
        return;
      }
    }
    let wait = this.timing.pollMs;
    if (this.unflushedSince !== undefined) wait = Math.min(wait, Math.max(1, this.unflushedSince + this.checkpointAfterMs - Date.now()));
    if (this.failures.blocked.size > 0) wait = Math.min(wait, (await this.store.msUntilNextRetry(this.pool)) ?? wait);
    if (!(await this.wakeup.wait(wait))) this.mustRead = true;
  }

  /** The next page of the log; a full page starts reading the one after it (catch-up). */
  private async nextBatch(after = this.position): Promise<RecordedEvent[]> {
    const ahead = this.readAhead;
    this.readAhead = undefined;
    const batch = ahead && ahead.after === after ? await ahead.events : await this.pages.read(after, this.batchSize, this.knownHead);
    if (batch.length === this.batchSize) {
      const after = batch[batch.length - 1]!.metadata.eventNumber;
      const events = this.pages.read(after, this.batchSize, this.knownHead);
      events.catch(() => {}); // a failed read-ahead is read again normally
      this.readAhead = { after, events };
    }
    return batch;
  }

  protected async takeLease(force: boolean): Promise<boolean> {
    const position = await this.holding.acquire(force);
    if (position === undefined) return false;
    // Set up fully before running: if a query fails here, the next turn takes the lease again.
    await this.store.releaseAbandonedClaims(this.pool);
    await this.failures.load();
    this.position = position;
    this.stored = position;
    this.unflushedSince = undefined;
    this.mustRead = true;
    this.needsRepair = true;
    this.phase = 'running';
    return true;
  }

  protected dropLease(): void {
    this.holding.drop();
    this.readAhead = undefined;
    if (this.phase === 'running') this.phase = 'standby';
  }

  protected override async prepare(): Promise<Error | undefined> {
    if (!this.definition.init) return undefined;
    try {
      await this.definition.init();
      return undefined;
    } catch (error) {
      await this.fail(`init() failed: ${describe(error)}`);
      return new SubscriptionInitError(this.name, error);
    }
  }

  /** Marks the subscription failed; resolves `true` when its restart policy keeps this loop going. */
  private async fail(reason: string, restart?: RestartPolicy): Promise<boolean> {
    this.logger.error({ subscription: this.name, reason, restart: restart !== undefined }, 'herald: subscription stopped');
    await this.flushCheckpoint(true).catch((error) => this.logger.warn({ err: error, subscription: this.name }, 'herald: checkpoint write failed'));
    this.dropLease();
    this.phase = 'failed';
    await this.lease.release('failed', reason, restart).catch((error) => this.logger.warn({ err: error }, 'herald: lease release failed'));
    this.hooks.subscriptionStopped({ subscription: this.name, reason });
    if (restart && this.running) return true;
    this.running = false;
    return false;
  }

  /**
   * Handles a batch of the log in one transaction with the checkpoint; events of blocked streams
   * are queued behind their failed event instead. If a handler fails, the transaction rolls back,
   * the events before the failing one are handled again in their own transaction (their writes
   * were rolled back with the batch), the failure goes to the error policy, and the rest follows.
   */
  private async handleBatch(batch: readonly RecordedEvent[]): Promise<void> {
    let failure: BatchFailure | undefined;
    try {
      failure = await this.handleInOneTransaction(batch);
    } catch (error) {
      // A handler caught an SQL error and went on: the transaction is aborted (25P02) and cannot
      // commit. Handle the events one by one to find which one did it.
      if ((error as { code?: string })?.code !== '25P02') throw error;
      if (batch.length === 1) failure = new BatchFailure(0, new HandlerSqlError(describe(error)));
      else {
        for (const event of batch) {
          if (this.position >= event.metadata.eventNumber) continue;
          await this.handleBatch([event]);
          if (this.position !== event.metadata.eventNumber) break;
        }
        return;
      }
    }
    if (!failure) return;
    if (failure.index > 0) {
      await this.handleBatch(batch.slice(0, failure.index));
      // Re-running them can fail differently (a flaky handler): then the failing event may now sit
      // behind a parked one, or be held back with everything else. Read the log again from where
      // the checkpoint is, rather than handle it out of turn.
      const failing = batch[failure.index]!;
      const holdAll = this.definition.parking === 'subscription' && this.failures.blocked.size > 0;
      if (this.position !== batch[failure.index - 1]!.metadata.eventNumber || holdAll || this.failures.blocked.has(failing.metadata.streamId)) {
        this.mustRead = true;
        return;
      }
    }
    const outcome = await this.failures.handleFailure(batch[failure.index]!, failure.error, undefined, { kind: 'log' });
    const holdAll = this.definition.parking === 'subscription' && outcome === 'blocked';
    const rest = batch.slice(failure.index + 1);
    if (rest.length > 0 && !holdAll) await this.handleBatch(rest);
  }

  private handleInOneTransaction(batch: readonly RecordedEvent[]): Promise<BatchFailure | undefined> {
    return this.inTransaction(async (transaction) => {
      const deferred: RecordedEvent[] = [];
      for (let i = 0; i < batch.length; i++) {
        const event = batch[i]!;
        if (this.failures.blocked.has(event.metadata.streamId)) {
          deferred.push(event);
          continue;
        }
        try {
          await this.invoke(event, transaction);
        } catch (error) {
          return new BatchFailure(i, error);
        }
      }
      if (deferred.length > 0) await this.store.deferBehind(transaction.tx, deferred);
      await this.checkpoint(transaction, batch[batch.length - 1]!.metadata.eventNumber);
      return undefined;
    });
  }

  /** One more attempt; resolves to what the handler threw, or undefined when it was handled. */
  async tryAgain(event: RecordedEvent, origin: Origin): Promise<{ error: unknown } | undefined> {
    try {
      await this.attempt(event, origin);
    } catch (error) {
      // Only the handler's own failure counts: a lost connection or lease goes to the loop, which
      // waits and repairs, instead of using up attempts (or recording a failure for an attempt
      // that may in fact have committed).
      if (error instanceof HandlerThrew) return { error: error.error };
      throw error;
    }
    if (origin.kind === 'parked' && !origin.waiting) this.hooks.parkedRetried({ subscription: this.name, event });
    return undefined;
  }

  /** Handles one event in its own transaction; throws {@link HandlerThrew} with what the handler threw. */
  private async attempt(event: RecordedEvent, origin: Origin): Promise<void> {
    const failure = await this.inTransaction(async (transaction) => {
      try {
        await this.invoke(event, transaction);
      } catch (error) {
        return new BatchFailure(0, error);
      }
      await this.settle(transaction, event, origin, true);
      return undefined;
    });
    if (failure) throw new HandlerThrew(failure.error);
  }

  /**
   * Records in `tx` that this subscription is done with `event`: from the log, the checkpoint moves
   * past it; from the parked table, the lease is verified and, when `handled`, its row resolves.
   */
  async settle(transaction: Transaction, event: RecordedEvent, origin: Origin, handled: boolean): Promise<void> {
    if (origin.kind === 'log') {
      await this.checkpoint(transaction, event.metadata.eventNumber);
      return;
    }
    if (!(await this.lease.fence(transaction.tx))) throw this.holding.loseIt();
    if (handled) await this.store.resolve(transaction.tx, event.metadata.eventNumber, origin.waiting);
  }

  /**
   * Moves the checkpoint. Inside an open transaction it commits with the handlers' writes. If no
   * handler touched the database there is no transaction: the checkpoint is one statement that
   * commits without waiting for the disk — losing it in a crash only means handling those events
   * again, which is at-least-once for effects outside the database, as ever.
   */
  private async checkpoint(transaction: Transaction, to: number): Promise<void> {
    if (this.holding.lost) throw this.holding.loseIt();
    this.pendingPosition = to;
    this.pendingWritten = transaction.open || this.checkpointAfterMs === 0;
    if (!this.pendingWritten) return;
    const moved = await this.lease.checkpoint(transaction.client, this.stored, to, { durable: transaction.open, notify: this.progressChannel });
    if (!moved) throw this.holding.loseIt();
  }

  /**
   * Writes a deferred checkpoint once it is `checkpointAfterMs` old (or now, when `force`). Runs
   * in the loop, between batches, so it never races a batch's own checkpoint.
   */
  private async flushCheckpoint(force: boolean): Promise<void> {
    if (this.unflushedSince === undefined || this.holding.lost) return;
    if (!force && Date.now() - this.unflushedSince < this.checkpointAfterMs) return;
    const to = this.position;
    const moved = await this.lease.checkpoint(this.pool, this.stored, to, { durable: false, notify: undefined });
    if (!moved) throw this.holding.loseIt();
    this.stored = to;
    this.unflushedSince = undefined;
  }

  /**
   * Runs `work` in a lazily begun transaction (see {@link transaction}): commits when it returns
   * nothing, rolls back when it returns a failure or throws. A transaction whose handler timed out
   * is abandoned — its statement cancelled, its connection closed — since the handler may still
   * be using it.
   */
  async inTransaction(work: (tx: Transaction) => Promise<BatchFailure | undefined | void>): Promise<BatchFailure | undefined> {
    this.pendingPosition = undefined;
    this.seenInTransaction = [];
    let failure: BatchFailure | undefined;
    try {
      await transaction(
        this.pool,
        async (t) => {
          failure = (await work(t)) ?? undefined;
          if (failure?.error instanceof HandlerTimeoutError) t.abandon(failure.error);
          else if (failure) t.setRollbackOnly();
        },
        { lazy: true },
      );
    } catch (error) {
      if (failure && error === failure.error) return failure;
      throw error;
    }
    if (failure) return failure;
    if (this.pendingPosition !== undefined) {
      this.position = this.pendingPosition;
      if (this.pendingWritten) {
        this.stored = this.position;
        this.unflushedSince = undefined;
      } else this.unflushedSince ??= Date.now();
      this.hooks.progress(this.name, this.position);
    }
    for (const event of this.seenInTransaction) this.hooks.eventAlreadySeen({ subscription: this.name, event });
    return undefined;
  }

  /**
   * Calls the handler under the watchdog: it fails with {@link HandlerTimeoutError} (and its
   * signal aborts) if it does not settle in time, and with `HandlerResultError` if it returns
   * anything but nothing or `ALREADY_SEEN`.
   */
  private async invoke(event: RecordedEvent, t: Transaction): Promise<void> {
    const returned = await this.hooks.telemetry.span('subscription:handle', { context: this.context, subscription: this.name, event }, async () =>
      this.watchdog.run(
        (signal) => this.definition.handle(event, event.metadata, { tx: t.tx, subscription: this.name, signal }),
        () => new HandlerTimeoutError(this.name, event.metadata.eventNumber, this.timeoutMs),
      ),
    );
    if (handlerOutcome(returned) === 'already-seen') this.seenInTransaction.push(event);
  }
}
