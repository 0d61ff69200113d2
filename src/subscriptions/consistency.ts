import type pg from 'pg';
import { ConsistencyTimeoutError } from '../errors.js';
import { Wakeup } from '../runtime/wakeup.js';
import { effectiveState } from './status.js';

interface Waiter {
  readonly eventIds: readonly string[];
  target: number | undefined;
  readonly deadline: number;
  readonly timeoutMs: number;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * Waits until every strong subscription of a log has handled given events, across processes.
 *
 * Two steps per waiter: learn the events' last event number (they are numbered by the sequencer
 * after commit), then wait until no strong subscription is behind it. Re-checks whenever
 * something progresses here or a notification arrives, and every `pollMs` as a fallback.
 * Subscriptions that were stopped gracefully do not count; running, failed, stalled and paused
 * ones do, so a timeout names them.
 */
export class ConsistencyWaiters {
  private readonly waiters = new Set<Waiter>();
  private readonly wakeup = new Wakeup();
  private looping = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly quotedSchema: string,
    private readonly nudgeSequencer: () => void,
    private readonly pollMs = 50,
  ) {}

  /** Something progressed: re-check now. */
  poke(): void {
    if (this.waiters.size > 0) this.wakeup.notify();
  }

  wait(eventIds: readonly string[], timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiters.add({ eventIds, target: undefined, deadline: Date.now() + timeoutMs, timeoutMs, resolve, reject });
      this.nudgeSequencer();
      if (!this.looping) void this.loop();
      else this.wakeup.notify();
    });
  }

  /** Rejects every pending wait (used on shutdown). */
  abandon(error: Error): void {
    for (const waiter of this.waiters) waiter.reject(error);
    this.waiters.clear();
  }

  private async loop(): Promise<void> {
    this.looping = true;
    try {
      while (this.waiters.size > 0) {
        for (const waiter of [...this.waiters]) {
          try {
            await this.check(waiter);
          } catch (error) {
            this.waiters.delete(waiter);
            waiter.reject(error instanceof Error ? error : new Error(String(error)));
          }
        }
        if (this.waiters.size > 0) await this.wakeup.wait(this.pollMs);
      }
    } finally {
      this.looping = false;
    }
  }

  private async check(waiter: Waiter): Promise<void> {
    const expired = Date.now() >= waiter.deadline;
    if (waiter.target === undefined) {
      const { rows } = await this.pool.query<{ max: string | null; unsequenced: string }>(
        `SELECT max(p.event_number) AS max, count(*) FILTER (WHERE p.event_number IS NULL) AS unsequenced
           FROM ${this.quotedSchema}.events e LEFT JOIN ${this.quotedSchema}.positions p ON p.id = e.id
          WHERE e.event_id = ANY($1::uuid[])`,
        [waiter.eventIds],
      );
      const row = rows[0];
      if (row && Number(row.unsequenced) === 0 && row.max !== null) waiter.target = Number(row.max);
      else if (expired) return this.settle(waiter, new ConsistencyTimeoutError([], undefined, waiter.timeoutMs));
      else return this.nudgeSequencer();
    }
    const { rows } = await this.pool.query<{ name: string; position: string; state: string; lease_expires_at: Date | null; paused_at: Date | null; now: Date }>(
      `SELECT s.name, s.position, s.state, s.lease_expires_at, s.paused_at, now() AS now FROM ${this.quotedSchema}.subscriptions s
        WHERE s.consistency = 'strong' AND s.state <> 'stopped'
          AND (s.position < $1 OR EXISTS (
            -- moved past, but parked (or waiting behind a parked event): not handled yet
            SELECT 1 FROM ${this.quotedSchema}.parked_events p
             WHERE p.subscription = s.name AND p.event_id = ANY($2::uuid[]) AND p.status NOT IN ('retried', 'skipped')))
        ORDER BY s.name`,
      [waiter.target, waiter.eventIds],
    );
    if (rows.length === 0) return this.settle(waiter);
    if (expired) {
      const behind = rows.map((r) => ({
        name: r.name,
        position: Number(r.position),
        state: effectiveState(r.state, r.lease_expires_at, r.now, r.paused_at),
      }));
      this.settle(waiter, new ConsistencyTimeoutError(behind, waiter.target, waiter.timeoutMs));
    }
  }

  private settle(waiter: Waiter, error?: Error): void {
    this.waiters.delete(waiter);
    if (error) waiter.reject(error);
    else waiter.resolve();
  }
}
