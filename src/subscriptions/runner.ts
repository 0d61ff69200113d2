import type pg from 'pg';
import { describe, LeaseLostError, SubscriptionInitError } from '../errors.js';
import type { RecordedEvent } from '../events/types.js';
import { readLog } from '../log/read.js';
import type { Logger } from '../runtime/logger.js';
import { Wakeup } from '../runtime/wakeup.js';
import type { SubscriptionDefinition } from './definition.js';
import { Lease } from './lease.js';

/** Timing knobs shared by the runners of one log. */
export interface RunnerTiming {
  /** Lease time to live. Default 15 000 ms; a dead holder is replaced after at most ttl + ttl/3. */
  readonly leaseTtlMs: number;
  /** Poll interval when no notification arrives. */
  readonly pollMs: number;
}

/** Where a runner is, as seen from this process. */
export type RunnerPhase = 'idle' | 'standby' | 'running' | 'stopped' | 'failed';

/** A handler threw: carries the event and what was thrown. */
class HandlerFailure extends Error {
  constructor(
    readonly event: RecordedEvent,
    readonly error: unknown,
  ) {
    super(`handler failed on event ${event.metadata.eventNumber}: ${describe(error)}`);
  }
}

/**
 * Runs one subscription in this process: takes its lease (or waits as a standby), calls `init()`,
 * then reads the log from the checkpoint — catch-up and live are the same loop, woken by the
 * sequencer — and handles each batch in one transaction that also moves the checkpoint.
 */
export class SubscriptionRunner {
  readonly wakeup = new Wakeup();
  phase: RunnerPhase = 'idle';
  lastError: string | null = null;
  private position = 0;
  private running = false;
  private loop: Promise<void> | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private leaseLost = false;
  private readonly stopSignal = new Wakeup();
  private readonly batchSize: number;

  constructor(
    readonly definition: SubscriptionDefinition,
    private readonly pool: pg.Pool,
    private readonly quotedSchema: string,
    private readonly lease: Lease,
    private readonly timing: RunnerTiming,
    private readonly logger: Logger,
    private readonly onProgress: (name: string, position: number) => void,
    private readonly progressChannel: string | undefined,
  ) {
    this.batchSize = definition.batchSize ?? 100;
  }

  get name(): string {
    return this.definition.name;
  }

  /** Starts the loop; resolves once this process either runs the subscription or stands by. */
  start(): Promise<void> {
    if (this.running) return Promise.resolve();
    this.running = true;
    return new Promise<void>((resolve, reject) => {
      this.loop = this.run({ resolve, reject });
    });
  }

  /** Finishes the batch in hand, then releases the lease. */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeup.notify();
    this.stopSignal.notify();
    await this.loop;
  }

  private async run(started: { resolve(): void; reject(error: Error): void }): Promise<void> {
    let force = true;
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      if (error) started.reject(error);
      else started.resolve();
    };
    let backoff = 100;
    while (this.running) {
      try {
        if (this.phase !== 'running') {
          const acquired = await this.takeLease(force);
          force = false;
          if (!acquired) {
            this.phase = 'standby';
            settle();
            await this.stopSignal.wait(this.timing.leaseTtlMs / 3);
            continue;
          }
          const initError = await this.runInit();
          if (initError) {
            settle(initError);
            return;
          }
          settle();
        }
        const batch = await readLog(this.pool, this.quotedSchema, this.position, this.batchSize);
        if (batch.length === 0) {
          await this.wakeup.wait(this.timing.pollMs);
          continue;
        }
        await this.handleBatch(batch);
        backoff = 100;
      } catch (error) {
        if (error instanceof HandlerFailure) {
          await this.fail(`event ${error.event.metadata.eventNumber} (${error.event.type}): ${describe(error.error)}`);
          settle();
          return;
        }
        if (error instanceof LeaseLostError || this.leaseLost) {
          this.logger.warn({ subscription: this.name }, 'herald: lease lost, standing by');
          this.dropLease();
          continue;
        }
        // The database went away or a query failed: wait and try again; the checkpoint did not move.
        this.lastError = describe(error);
        this.logger.warn({ err: error, subscription: this.name }, 'herald: subscription error, retrying');
        settle();
        await this.stopSignal.wait(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
    settle();
    if (this.phase === 'running') {
      this.dropLease();
      await this.lease.release('stopped', null).catch((error) => this.logger.warn({ err: error }, 'herald: lease release failed'));
      this.phase = 'stopped';
    }
  }

  private async takeLease(force: boolean): Promise<boolean> {
    const position = await this.lease.acquire(force);
    if (position === undefined) return false;
    this.position = position;
    this.leaseLost = false;
    this.phase = 'running';
    this.renewTimer = setInterval(() => void this.renew(), Math.max(50, this.timing.leaseTtlMs / 3));
    this.renewTimer.unref();
    return true;
  }

  private async renew(): Promise<void> {
    try {
      if (!(await this.lease.renew())) this.leaseLost = true;
    } catch (error) {
      // Keep running: the lease survives a failed renewal until it expires, and fencing protects the checkpoint.
      this.logger.warn({ err: error, subscription: this.name }, 'herald: lease renewal failed');
    }
  }

  private dropLease(): void {
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    if (this.phase === 'running') this.phase = 'standby';
  }

  private async runInit(): Promise<Error | undefined> {
    if (!this.definition.init) return undefined;
    try {
      await this.definition.init();
      return undefined;
    } catch (error) {
      const initError = new SubscriptionInitError(this.name, error);
      await this.fail(`init() failed: ${describe(error)}`);
      return initError;
    }
  }

  private async fail(reason: string): Promise<void> {
    this.lastError = reason;
    this.logger.error({ subscription: this.name, reason }, 'herald: subscription failed');
    this.dropLease();
    this.phase = 'failed';
    this.running = false;
    await this.lease.release('failed', reason).catch((error) => this.logger.warn({ err: error }, 'herald: lease release failed'));
  }

  /**
   * Handles a batch in one transaction with the checkpoint. If a handler throws, the transaction
   * rolls back, the events before the failing one are handled again in their own transaction
   * (their earlier writes were rolled back with the batch), and the failure is raised.
   */
  private async handleBatch(batch: readonly RecordedEvent[]): Promise<void> {
    if (this.leaseLost) throw new LeaseLostError(this.name);
    const from = this.position;
    const to = batch[batch.length - 1]!.metadata.eventNumber;
    const client = await this.pool.connect();
    let failure: HandlerFailure | undefined;
    let failedAt = -1;
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const context = { tx: client, subscription: this.name };
      for (let i = 0; i < batch.length; i++) {
        const event = batch[i]!;
        try {
          await this.definition.handle(event, event.metadata, context);
        } catch (error) {
          failure = new HandlerFailure(event, error);
          failedAt = i;
          break;
        }
      }
      if (failure) {
        await client.query('ROLLBACK');
      } else {
        if (!(await this.lease.checkpoint(client, from, to))) {
          await client.query('ROLLBACK');
          this.leaseLost = true;
          throw new LeaseLostError(this.name);
        }
        if (this.progressChannel) await client.query('SELECT pg_notify($1, $2)', [this.progressChannel, 'c']);
        await client.query('COMMIT');
        this.position = to;
      }
    } catch (error) {
      if (!(error instanceof LeaseLostError)) {
        broken = error instanceof Error ? error : new Error(String(error));
        await client.query('ROLLBACK').catch(() => {});
      }
      throw error;
    } finally {
      client.release(broken);
    }
    if (!failure) {
      this.onProgress(this.name, to);
      return;
    }
    if (failedAt > 0) await this.handleBatch(batch.slice(0, failedAt));
    throw failure;
  }
}
