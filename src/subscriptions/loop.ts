import { describe, LeaseLostError } from '../errors.js';
import type { Logger } from '../runtime/logger.js';
import { Wakeup } from '../runtime/wakeup.js';
import type { SubscriptionHealth } from './definition.js';
import type { LeaseHolding } from './holding.js';
import type { RenewedControls } from './lease.js';
import type { ControlRequests, ResetRequest } from './requests.js';

/** Where a loop is, as seen from this process. */
export type LoopPhase = 'idle' | 'standby' | 'running' | 'stopped' | 'failed';

/** What a failed turn means to the kind of loop: go on at once, end the loop, or back off and retry (`undefined`). */
export type FailureVerdict = 'again' | 'end' | undefined;

/**
 * What a subscription runner and a relay share: a loop in this process that holds a lease (or
 * stands by for it), reads the log woken when the sequencer announces a new head (or polling
 * when announcements may have been missed), backs off while the database or broker fails, stops
 * on request, and reports whether it gets its work done. Each kind fills in its turn.
 */
export abstract class LogLoop {
  phase: LoopPhase = 'idle';
  /** Wakes the loop when there is something to read or do. */
  readonly wakeup = new Wakeup();
  /** Wakes the loop out of its standby and backoff waits. */
  protected readonly stopSignal = new Wakeup();
  running = false;
  protected loop: Promise<void> | undefined;
  /** The highest log head announced so far; no need to read while the position is there. */
  protected knownHead = 0;
  /** Read even if no announcement came: after a takeover, a reconnect, a poll timeout or a full page. */
  protected mustRead = true;
  private healthState: SubscriptionHealth = { healthy: true, lastError: null, since: null, failures: 0 };

  /** After a takeover or an error, half-done work may need repairing before the next turn. */
  protected needsRepair = true;
  /** A turn that completes proves the loop healthy (a relay proves it only with a confirmed page). */
  protected turnProvesHealth = true;
  /** An operator's pause or reset may be waiting: read the row's controls before the next turn. */
  private controlCheck = true;
  /** Paused by an operator: the lease is kept, nothing is handled. */
  protected paused = false;
  /** Whether `prepare()` ran since the lease was taken (it waits while paused). */
  private prepared = false;

  abstract readonly name: string;
  /** `subscription` or `relay`, for log lines. */
  protected abstract readonly kind: string;
  protected abstract readonly holding: LeaseHolding;
  protected abstract readonly logger: Logger;
  protected abstract readonly leaseTtlMs: number;
  /** Operators' requests on this loop's row. */
  protected abstract readonly requests: ControlRequests;

  /** Takes the lease and sets up to run (phase `running`); false when another process holds it. */
  protected abstract takeLease(force: boolean): Promise<boolean>;
  /** Stops renewing the lease; `running` becomes `standby`. */
  protected abstract dropLease(): void;
  /** One turn of the work. */
  protected abstract step(): Promise<void>;
  /** After a stop: hands over what is in hand and releases the lease. */
  protected abstract finish(): Promise<void>;
  /** Before a pause or a reset: settles the work in hand (a deferred checkpoint, pages in flight) so the stored checkpoint is where the loop is. */
  protected abstract quiesce(): Promise<void>;
  /** Where the loop is: the stored checkpoint (a reset's fence) and how far it handled (a reset's `from`). */
  protected abstract positions(): { stored: number; handled: number };
  /** A reset moved the checkpoint to `to`: read on from there, with the parked rows as they are now. */
  protected abstract movedTo(to: number): Promise<void>;

  /** Runs after the lease was taken, before the first turn; an error keeps the loop from running (and rejects `start()`). */
  protected async prepare(): Promise<Error | undefined> {
    return undefined;
  }

  /** What a failed turn means; by default, back off and retry. */
  protected async failed(_error: unknown): Promise<FailureVerdict> {
    return undefined;
  }

  /** Whether this process holds the lease and runs the loop. */
  get active(): boolean {
    return this.phase === 'running';
  }

  /** Starts the loop; resolves once this process either runs it or stands by (rejects if `prepare()` failed). */
  start(): Promise<void> {
    if (this.running) return Promise.resolve();
    this.running = true;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      this.loop = this.run((error) => {
        if (settled) return;
        settled = true;
        if (error) reject(error);
        else resolve();
      });
    });
  }

  private async run(started: (error?: Error) => void): Promise<void> {
    let force = true;
    let backoff = 100;
    while (this.running) {
      try {
        if (this.phase !== 'running') {
          const acquired = await this.takeLease(force);
          force = false;
          if (!acquired) {
            this.phase = 'standby';
            started();
            await this.stopSignal.wait(this.leaseTtlMs / 3);
            continue;
          }
          this.prepared = false;
          this.paused = false;
          this.controlCheck = true;
        }
        if (await this.control()) {
          // Paused: keep the lease (renewed in the background), handle nothing, look again when asked.
          started();
          if (this.holding.lost) throw this.holding.loseIt();
          if (!(await this.wakeup.wait(this.leaseTtlMs / 3))) this.controlCheck = true;
          continue;
        }
        if (!this.prepared) {
          const refused = await this.prepare();
          started(refused);
          if (refused) return;
          this.prepared = true;
        }
        await this.step();
        backoff = 100;
        if (this.turnProvesHealth) this.recovered();
      } catch (error) {
        const verdict = await this.failed(error);
        if (verdict === 'end') return;
        if (verdict === 'again') continue;
        if (error instanceof LeaseLostError || this.holding.lost) {
          this.logger.warn({ [this.kind]: this.name }, 'herald: lease lost, standing by');
          this.dropLease();
          continue;
        }
        // The database or the broker went away: wait and try again; the checkpoint did not move.
        this.needsRepair = true;
        this.unhealthy(error);
        this.logger.warn({ err: error, [this.kind]: this.name }, `herald: ${this.kind} cannot do its work, retrying`);
        started();
        await this.stopSignal.wait(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
    started();
    await this.finish();
  }

  /**
   * Carries out operators' requests, between two turns (so never inside a batch, nor racing its
   * checkpoint write): a pending reset, then a pause or resume. Resolves whether the loop is paused.
   */
  private async control(): Promise<boolean> {
    if (!this.controlCheck) return this.paused;
    // Cleared before reading, so a request that arrives meanwhile is looked at next turn.
    this.controlCheck = false;
    try {
      const state = await this.requests.read();
      if (state?.reset) await this.reset(state.reset);
      const pause = state?.paused;
      if (pause && !this.paused) {
        await this.quiesce();
        this.paused = true;
        this.logger.info({ [this.kind]: this.name, by: pause.by, reason: pause.reason }, `herald: ${this.kind} paused`);
      }
      if (pause && !pause.confirmed) await this.requests.confirmPause(this.holding.lease.owner);
      if (!pause && this.paused) {
        this.paused = false;
        this.mustRead = true;
        this.logger.info({ [this.kind]: this.name }, `herald: ${this.kind} resumed`);
      }
    } catch (error) {
      this.controlCheck = true; // the request waits for the next turn
      throw error;
    }
    return this.paused;
  }

  /** Moves the checkpoint as an operator asked, fenced like a checkpoint write. */
  private async reset(request: ResetRequest): Promise<void> {
    await this.quiesce();
    const done = await this.requests.carryOut(request, { owner: this.holding.lease.owner, ...this.positions() });
    if (done === 'fenced') throw this.holding.loseIt();
    if (done === 'superseded') {
      this.controlCheck = true; // a later request replaced it: the next turn carries that one out
      return;
    }
    await this.movedTo(done.to);
    this.logger.info({ [this.kind]: this.name, from: done.from, to: done.to, by: done.by }, `herald: ${this.kind} reset`);
  }

  /** A lease renewal read the row: look at the controls if they changed or a request waits. */
  protected renewed(controls: RenewedControls): void {
    if (controls.pending || controls.paused !== this.paused) this.nudge();
  }

  /** Whether this process's loop gets its work done: unhealthy while it keeps failing on something other than a handler. */
  health(): SubscriptionHealth {
    return this.healthState;
  }

  /** Stops the loop (each kind finishes what it has in hand first) and waits for it. */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeup.notify();
    this.stopSignal.notify();
    await this.loop;
  }

  /** The sequencer announced a new head. */
  logAdvanced(head: number): void {
    if (head <= this.knownHead) return;
    this.knownHead = head;
    this.wakeup.notify();
  }

  /** Announcements may have been missed: read once, and look at the controls. */
  recheck(): void {
    this.mustRead = true;
    this.controlCheck = true;
    this.wakeup.notify();
  }

  /** Another process released the lease, or an operator asked for something (a retry, a pause, a reset): look now. */
  nudge(): void {
    this.controlCheck = true;
    this.wakeup.notify();
    this.stopSignal.notify();
  }

  protected recovered(): void {
    if (!this.healthState.healthy) this.healthState = { ...this.healthState, healthy: true, since: new Date(), failures: 0 };
  }

  protected unhealthy(error: unknown): void {
    this.healthState = {
      healthy: false,
      lastError: describe(error),
      since: this.healthState.healthy ? new Date() : this.healthState.since,
      failures: this.healthState.failures + 1,
    };
  }
}
