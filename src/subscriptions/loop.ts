import { describe, LeaseLostError } from '../errors.js';
import type { Logger } from '../runtime/logger.js';
import { Wakeup } from '../runtime/wakeup.js';
import type { SubscriptionHealth } from './definition.js';
import type { LeaseHolding } from './holding.js';

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

  abstract readonly name: string;
  /** `subscription` or `relay`, for log lines. */
  protected abstract readonly kind: string;
  protected abstract readonly holding: LeaseHolding;
  protected abstract readonly logger: Logger;
  protected abstract readonly leaseTtlMs: number;

  /** Takes the lease and sets up to run (phase `running`); false when another process holds it. */
  protected abstract takeLease(force: boolean): Promise<boolean>;
  /** Stops renewing the lease; `running` becomes `standby`. */
  protected abstract dropLease(): void;
  /** One turn of the work. */
  protected abstract step(): Promise<void>;
  /** After a stop: hands over what is in hand and releases the lease. */
  protected abstract finish(): Promise<void>;

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
          const refused = await this.prepare();
          started(refused);
          if (refused) return;
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

  /** Announcements may have been missed: read once. */
  recheck(): void {
    this.mustRead = true;
    this.wakeup.notify();
  }

  /** Another process released the lease, or an operator asked for something: look now. */
  nudge(): void {
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
