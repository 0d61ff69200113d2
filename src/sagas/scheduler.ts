import type pg from 'pg';
import type { Logger } from '../runtime/logger.js';
import { Wakeup } from '../runtime/wakeup.js';
import { transaction } from '../sql/transaction.js';
import { TIMEOUT_EVENT, type TimeoutFired, timeoutStream } from './definition.js';
import type { SagaLog } from './saga.js';

/**
 * Fires due saga timeouts: in one transaction it takes due rows (`FOR UPDATE SKIP LOCKED`, so
 * several processes share the work and none fires one twice), appends a `HeraldSagaTimeoutFired`
 * event per row to the log and deletes the rows. The saga's subscription then handles each one in
 * order with its instance's other events. A timeout is a row until then: it survives restarts.
 */
export class TimeoutScheduler {
  private readonly wakeup = new Wakeup();
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly quotedSchema: string,
    private readonly log: SagaLog,
    private readonly sagas: readonly string[],
    private readonly logger: Logger,
    private readonly pollMs = 250,
  ) {}

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wakeup.notify();
    await this.loop;
  }

  /** Fires what is due now; resolves to how many fired. */
  async fireDue(limit = 100): Promise<number> {
    return transaction(this.pool, async ({ client }) => {
      const { rows } = await client.query<{ saga: string; key: string; name: string; data: TimeoutFired['data'] }>(
        `DELETE FROM ${this.quotedSchema}.saga_timeouts WHERE (saga, key, name) IN (
           SELECT saga, key, name FROM ${this.quotedSchema}.saga_timeouts
            WHERE saga = ANY($1::text[]) AND due_at <= now() ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING saga, key, name, data`,
        [this.sagas, limit],
      );
      for (const row of rows) {
        const fired: TimeoutFired = { saga: row.saga, key: row.key, name: row.name, data: row.data };
        await this.log.append(client, timeoutStream(row.saga), { type: TIMEOUT_EVENT, data: fired });
      }
      return rows.length;
    });
  }

  private async run(): Promise<void> {
    while (this.running) {
      let fired = 0;
      try {
        fired = await this.fireDue();
      } catch (error) {
        this.logger.warn({ err: error }, 'herald: saga timeouts could not fire, retrying');
      }
      if (!this.running) break;
      if (fired === 0) await this.wakeup.wait(this.pollMs);
    }
  }
}
