import type pg from 'pg';
import { ConsistencyOutsideTransactionError, InvalidArgumentError } from '../errors.js';
import type { EventDefinition } from '../events/define.js';
import type { NewEvent } from '../events/types.js';
import { appendToStream, prepareEvents, validateStreamId, type AppendOptions, type AppendResult } from '../log/append.js';
import type { Telemetry } from '../runtime/telemetry.js';
import type { SqlExecutor } from '../sql/executor.js';
import { transaction } from '../sql/transaction.js';
import type { ConsistencyWaiters } from '../subscriptions/consistency.js';
import { DEFAULT_CONSISTENCY_TIMEOUT_MS, positive } from './options.js';
import { hintSequencers } from './sequencers.js';

interface TransactionScope {
  appended: boolean;
  strong: { eventIds: string[]; timeoutMs: number }[];
}

/**
 * The write side of a Herald: appends, its transaction scope, and strong consistency. A
 * transaction Herald owns knows when it committed (it wakes the sequencer and waits for strong
 * subscriptions); an append in the caller's transaction hints the sequencer to look soon.
 */
export class LogWriter {
  private readonly scopes = new WeakMap<object, TransactionScope>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
    private readonly context: string,
    private readonly registry: ReadonlyMap<string, EventDefinition>,
    private readonly telemetry: Telemetry,
    private readonly waiters: ConsistencyWaiters,
    /** After a commit that appended: wake the sequencer. */
    private readonly committed: () => void,
  ) {}

  async append(tx: SqlExecutor, streamId: string, events: NewEvent | readonly NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    if (!tx || typeof tx.query !== 'function') throw new InvalidArgumentError('tx', 'pass a pg client (or SqlExecutor) or a stream id');
    validateStreamId(streamId);
    const scope = this.scopes.get(tx);
    const strong = options.consistency === 'strong';
    if (strong && !scope) throw new ConsistencyOutsideTransactionError();
    if (options.consistency !== undefined && options.consistency !== 'strong' && options.consistency !== 'eventual') {
      throw new InvalidArgumentError('consistency', `${JSON.stringify(options.consistency)}; use 'eventual' or 'strong'`);
    }
    const timeoutMs = positive('consistencyTimeoutMs', options.consistencyTimeoutMs, DEFAULT_CONSISTENCY_TIMEOUT_MS);
    const list = Array.isArray(events) ? events : [events as NewEvent];
    const about = { context: this.context, streamId, events: list.length };
    const result = await this.telemetry.span('log:append', about, async () =>
      appendToStream(tx, this.schema, streamId, await prepareEvents(list, this.telemetry.enrich(options, about), this.registry), options.expectedVersion ?? 'any'));
    if (scope) {
      scope.appended = true;
      if (strong) scope.strong.push({ eventIds: [...result.eventIds], timeoutMs });
    } else {
      // A caller-owned transaction: we cannot see its commit, so make the sequencer look soon and often.
      hintSequencers(this.context, false);
    }
    return result;
  }

  async transaction<T>(fn: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
    const scope: TransactionScope = { appended: false, strong: [] };
    const result = await transaction(this.pool, async ({ client }) => {
      this.scopes.set(client, scope);
      try {
        return await fn(client);
      } finally {
        this.scopes.delete(client);
      }
    });
    if (scope.appended) this.committed();
    for (const wait of scope.strong) await this.waiters.wait(wait.eventIds, wait.timeoutMs);
    return result;
  }

  waitForConsistency(result: AppendResult, options: { timeoutMs?: number } = {}): Promise<void> {
    hintSequencers(this.context);
    return this.waiters.wait(result.eventIds, positive('timeoutMs', options.timeoutMs, DEFAULT_CONSISTENCY_TIMEOUT_MS));
  }
}
