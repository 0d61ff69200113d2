import type pg from 'pg';
import { InvalidArgumentError } from '../errors.js';
import type { Logger } from '../runtime/logger.js';
import { queryNamed, type SqlExecutor } from '../sql/executor.js';
import { transaction } from '../sql/transaction.js';

/** How long handled message ids are kept, and how they are cleaned up. */
export interface InboxOptions {
  /** Keep handled ids this long; a redelivery older than that would run again. Default 7 days. */
  readonly retentionMs?: number;
  /** How often the background cleanup runs while the log is started. Default 60 000 ms. */
  readonly cleanupIntervalMs?: number;
  /** Rows deleted per statement, so cleanup never holds long locks. Default 1000. */
  readonly cleanupBatchSize?: number;
}

/** What {@link Inbox.handle} did. */
export type InboxResult<T> = { readonly status: 'handled'; readonly result: T } | { readonly status: 'already-handled' };

/**
 * The idempotent consumer: a message id is recorded in the same transaction as the work it
 * triggers, so a redelivered message changes nothing twice. Concurrent deliveries of one id queue
 * on its primary key: exactly one runs the work; the others see "already handled" once it commits
 * (or run it themselves if it rolled back).
 */
export class Inbox {
  private readonly table: string;
  private readonly retentionMs: number;
  private readonly intervalMs: number;
  private readonly batchSize: number;
  private timer: NodeJS.Timeout | undefined;
  private cleaning: Promise<unknown> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    quotedSchema: string,
    private readonly logger: Logger,
    options: InboxOptions = {},
  ) {
    this.table = `${quotedSchema}.inbox`;
    this.retentionMs = options.retentionMs ?? 7 * 24 * 3_600_000;
    this.intervalMs = options.cleanupIntervalMs ?? 60_000;
    this.batchSize = options.cleanupBatchSize ?? 1000;
  }

  /**
   * Records `messageId` for `consumer` inside the caller's transaction; resolves `true` the first
   * time, `false` when it was already handled (then do nothing). Blocks while another open
   * transaction holds the same id.
   */
  async record(tx: SqlExecutor, consumer: string, messageId: string): Promise<boolean> {
    const rows = await queryNamed(
      tx,
      `herald:inbox:${this.table}`,
      `INSERT INTO ${this.table} (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1`,
      [checkText('consumer', consumer, 200), checkText('messageId', messageId, 500)],
    );
    return rows.length === 1;
  }

  /** Runs `work` in a transaction that also records the message; skips it when already handled. */
  async handle<T>(consumer: string, messageId: string, work: (tx: pg.PoolClient) => Promise<T>): Promise<InboxResult<T>> {
    return transaction(this.pool, async (t): Promise<InboxResult<T>> => {
      if (!(await this.record(t.client, consumer, messageId))) {
        t.setRollbackOnly();
        return { status: 'already-handled' };
      }
      return { status: 'handled', result: await work(t.client) };
    });
  }

  /** Deletes ids handled longer ago than the retention, in batches; resolves to how many. */
  async purge(retentionMs = this.retentionMs): Promise<number> {
    let total = 0;
    for (;;) {
      const { rowCount } = await this.pool.query(
        `DELETE FROM ${this.table} WHERE ctid = ANY(ARRAY(
           SELECT ctid FROM ${this.table} WHERE handled_at < now() - $1 * interval '1 millisecond' LIMIT $2))`,
        [retentionMs, this.batchSize],
      );
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < this.batchSize) return total;
    }
  }

  /** Starts the background cleanup (called by `Herald.start()`). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.cleaning) return;
      this.cleaning = this.purge()
        .catch((error) => this.logger.warn({ err: error }, 'herald: inbox cleanup failed'))
        .finally(() => (this.cleaning = undefined));
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.cleaning;
  }
}

function checkText(name: string, value: unknown, max: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max || value.includes('\u0000')) {
    throw new InvalidArgumentError(name, `${JSON.stringify(value)}; use a non-empty string of at most ${max} characters`);
  }
  return value;
}
