import { describe } from '../errors.js';
import { Wakeup } from '../runtime/wakeup.js';
import type { SubscriptionHealth } from './definition.js';

/**
 * What a subscription runner and a relay share: a loop in this process that reads the log,
 * woken when the sequencer announces a new head (or polling when announcements may have been
 * missed), stopped on request, and reporting whether it gets its work done.
 */
export abstract class LogLoop {
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

  abstract readonly name: string;

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
