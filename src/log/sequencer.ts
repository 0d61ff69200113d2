import type pg from 'pg';
import type { Logger } from '../runtime/logger.js';
import { Wakeup, sleep } from '../runtime/wakeup.js';

export interface SequencerOptions {
  /** Most events stamped per transaction. Default 1000. */
  readonly batchSize?: number;
  /** Poll interval when nothing signals new commits (a writer in another process). Default 200 ms. */
  readonly idlePollMs?: number;
  /**
   * After stamping a batch, wait this long before the next one, however many commits hint
   * meanwhile: under load, events are stamped (and subscriptions woken) in fewer, larger batches,
   * which leaves the CPU to the writers. Adds at most this much latency. Default 5 ms.
   */
  readonly coalesceMs?: number;
}

/**
 * Turns committed events into the log's gapless global order (see `sequence_events()`).
 *
 * Every process that runs a log may run its sequencer: they queue on one row lock, so running two
 * is safe and costs only an idle query. It wakes on a hint (a local append or commit, or a
 * writer's notification) and then polls fast — 1, 2, 4 … ms — until the hinted commit shows up,
 * because an append inside a caller-owned transaction becomes visible only when the caller commits.
 * Under load it stamps at most once per `coalesceMs`.
 */
export class Sequencer {
  private readonly wakeup = new Wakeup();
  private readonly batchSize: number;
  private readonly idlePollMs: number;
  private readonly coalesceMs: number;
  private running = false;
  private loop: Promise<void> | undefined;
  private delay: number;

  constructor(
    private readonly pool: pg.Pool,
    private readonly quotedSchema: string,
    private readonly channel: string,
    private readonly onAdvanced: (head: number) => void,
    private readonly logger: Logger,
    options: SequencerOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 1000;
    this.idlePollMs = options.idlePollMs ?? 200;
    this.coalesceMs = options.coalesceMs ?? 5;
    this.delay = this.idlePollMs;
  }

  /** Something committed: look now, then poll fast for a while. */
  hint(): void {
    this.delay = 1;
    this.wakeup.notify();
  }

  /**
   * Something was appended in a transaction that has not committed yet: look in `coalesceMs`
   * (not at once, which would find nothing and cost a query), then poll fast until it shows up.
   */
  hintSoon(): void {
    if (this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.hint();
    }, this.coalesceMs);
    this.soon.unref();
  }

  private soon: NodeJS.Timeout | undefined;

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.soon);
    this.wakeup.notify();
    await this.loop;
  }

  /** Stamps every visible unsequenced event; returns how many, and the log's head after. */
  async drain(): Promise<{ stamped: number; head: number }> {
    let total = 0;
    for (;;) {
      const { rows } = await this.pool.query<{ stamped: string; head: string }>({
        name: `herald:sequence:${this.quotedSchema}`,
        text: `SELECT stamped, head FROM ${this.quotedSchema}.sequence_events($1, $2)`,
        values: [this.batchSize, this.channel],
      });
      const stamped = Number(rows[0]?.stamped ?? 0);
      total += stamped;
      if (stamped < this.batchSize) return { stamped: total, head: Number(rows[0]?.head ?? 0) };
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        const { stamped, head } = await this.drain();
        if (stamped > 0) {
          this.onAdvanced(head);
          this.delay = 1;
          if (this.coalesceMs > 0) await sleep(this.coalesceMs);
        } else {
          this.delay = Math.min(this.delay * 2, this.idlePollMs);
        }
      } catch (error) {
        this.logger.error({ err: error }, 'herald: sequencer failed, retrying');
        this.delay = this.idlePollMs;
        await sleep(this.idlePollMs);
      }
      if (!this.running) break;
      await this.wakeup.wait(this.delay);
    }
  }
}
