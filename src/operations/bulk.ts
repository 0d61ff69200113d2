import type pg from 'pg';
import { describe, InvalidArgumentError, OperatorActionError } from '../errors.js';
import { requireReason } from '../parking/requests.js';
import { notify } from '../runtime/notifications.js';
import { transaction } from '../sql/transaction.js';
import type { AuditLog } from './audit.js';
import { countActionable, freezeMembers, type OutcomeCounts, requestChunk, settleRequested } from './bulk-sql.js';
import { type FailureFilter, type FailureTarget, type StoredFilter, storedFilter, text, validateFilter, validateTarget } from './filter.js';

export type ActionKind = 'retry' | 'skip';
export type ActionStatus = 'frozen' | 'running' | 'settling' | 'finished' | 'cancelled' | 'failed';

/** A bulk retry or skip: its frozen set and how far it got. */
export interface OperatorAction {
  readonly id: number;
  readonly kind: ActionKind;
  readonly target: FailureTarget;
  readonly filter: StoredFilter;
  readonly reason: string | null;
  readonly status: ActionStatus;
  /** Members frozen: the failures that matched when it was frozen. */
  readonly total: number;
  /** Requests written, not carried out yet. */
  readonly requested: number;
  /** Carried out (retried successfully, or skipped). */
  readonly done: number;
  /** Retried and failed again. */
  readonly failed: number;
  /** Resolved before their turn (by someone else, or the automatic retry). */
  readonly alreadyResolved: number;
  /** Another request or an attempt was in progress at their turn (left to it). */
  readonly busy: number;
  /** Not acted on yet. */
  readonly pending: number;
  readonly requestedBy: string;
  readonly runner: string | null;
  readonly error: string | null;
  readonly createdAt: Date;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
}

/** One frozen member and what became of it. */
export interface ActionMember {
  readonly owner: string;
  readonly key: string;
  readonly outcome: 'requested' | 'done' | 'failed' | 'already_resolved' | 'busy' | null;
  readonly detail: string | null;
}

/** How {@link BulkActions.run} goes about it. */
export interface RunOptions {
  /** Who runs it (audit log). */
  readonly actor: string;
  /** Members requested per statement. Default 100. */
  readonly chunkSize?: number;
  /** How long to wait for the lease holders to carry the requests out. Default 600 000 ms. */
  readonly settleTimeoutMs?: number;
  /** Called after every step with the action as it stands. */
  readonly onProgress?: (action: OperatorAction) => void;
  /**
   * Stops the run between two steps (its process is shutting down): the action goes back to
   * `frozen`, with what it did so far, and a later `run()` goes on from there.
   */
  readonly signal?: AbortSignal;
}

interface Row {
  id: string;
  kind: ActionKind;
  target: FailureTarget;
  filter: StoredFilter;
  reason: string | null;
  status: ActionStatus;
  total: number;
  requested: number;
  done: number;
  failed: number;
  already_resolved: number;
  busy: number;
  requested_by: string;
  runner: string | null;
  error: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

/** A run whose heartbeat is older than this is taken to be dead: another process may take it over. */
const STALE_MS = 60_000;

/**
 * Frozen bulk actions: {@link freeze} stores the keys of the failures matching a filter now;
 * {@link run} requests a retry or skip for those members only, in chunks, then waits for the
 * outcomes. Failures that match the filter later are not touched; members resolved meanwhile are
 * counted as already resolved. Every step is written to the audit log.
 */
export class BulkActions {
  private readonly table: string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
    private readonly channel: string,
    private readonly audit: AuditLog,
    private readonly processId: string,
  ) {
    this.table = `${schema}.operator_actions`;
  }

  /** How many failures a bulk action on `filter` would take now (nothing is written). */
  async dryRun(target: FailureTarget, filter: FailureFilter): Promise<number> {
    return countActionable(this.pool, this.schema, validateTarget(target), validateFilter(filter));
  }

  /** Freezes the failures matching `filter` now into a new action, in status `frozen`; {@link run} carries it out. */
  async freeze(request: { kind: ActionKind; target: FailureTarget; filter: FailureFilter; reason?: string; actor: string }): Promise<OperatorAction> {
    if (request.kind !== 'retry' && request.kind !== 'skip') throw new InvalidArgumentError('kind', `${JSON.stringify(request.kind)}; use 'retry' or 'skip'`);
    const target = validateTarget(request.target);
    const filter = validateFilter(request.filter);
    const reason = request.kind === 'skip' ? requireReason(request.reason) : null;
    const actor = text('actor', request.actor, 200);
    return transaction(this.pool, async ({ client }) => {
      const { rows } = await client.query<{ id: string }>(
        `INSERT INTO ${this.table} (kind, target, filter, reason, total, requested_by) VALUES ($1, $2, $3, $4, 0, $5) RETURNING id`,
        [request.kind, target, JSON.stringify(storedFilter(filter)), reason, actor],
      );
      const id = Number(rows[0]!.id);
      const total = await freezeMembers(client, this.schema, id, target, filter);
      const { rows: updated } = await client.query<Row>(`UPDATE ${this.table} SET total = $2 WHERE id = $1 RETURNING *`, [id, total]);
      await this.audit.record({ actor, action: 'bulk.freeze', target: `action ${id} (${request.kind} ${target})`, filter: storedFilter(filter), count: total, outcome: 'frozen' }, client);
      return toAction(updated[0]!);
    });
  }

  /**
   * Carries out a frozen action (or takes over one whose runner stopped showing signs of life):
   * requests each member still open, chunk by chunk, then waits for the outcomes until every
   * request was carried out or `settleTimeoutMs` passed. Resolves to the action as it ended.
   * Throws {@link OperatorActionError} for an unknown action or one not runnable.
   */
  async run(id: number, options: RunOptions): Promise<OperatorAction> {
    const actor = text('actor', options.actor, 200);
    const chunkSize = options.chunkSize ?? 100;
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 1 || chunkSize > 10_000) throw new InvalidArgumentError('chunkSize', 'use a whole number from 1 to 10000');
    let action = await this.claim(id);
    await this.audit.record({ actor, action: 'bulk.run', target: `action ${id} (${action.kind} ${action.target})`, filter: action.filter, count: action.total, outcome: 'started' });
    const progress = (next: OperatorAction) => {
      action = next;
      try {
        options.onProgress?.(next);
      } catch {
        // A listener's failure is not the action's.
      }
    };
    progress(action);
    try {
      const status = action.kind === 'retry' ? 'retry_requested' : 'skip_requested';
      for (;;) {
        if (options.signal?.aborted) return this.interrupt(id, actor);
        const step = await this.step(id, 'running', (db) => requestChunk(db, this.schema, id, action.target, status, action.reason, chunkSize));
        if (!step) return this.finishStopped(id, actor);
        progress(step.action);
        if (step.counts.requested) await notify(this.pool, this.channel, action.target === 'events' ? 'event-requested' : 'message-requested');
        if (Object.keys(step.counts).length === 0) break;
      }
      const moved = await this.step(id, 'settling', async () => ({}));
      if (!moved) return this.finishStopped(id, actor);
      progress(moved.action);
      const deadline = Date.now() + (options.settleTimeoutMs ?? 600_000);
      for (let delay = 20; action.requested > 0 && Date.now() < deadline; delay = Math.min(delay * 2, 500)) {
        if (options.signal?.aborted) return this.interrupt(id, actor);
        await new Promise((resolve) => setTimeout(resolve, delay));
        const step = await this.step(id, 'settling', (db) => settleRequested(db, this.schema, id, action.target));
        if (!step) return this.finishStopped(id, actor);
        progress(step.action);
      }
      const finished = await this.end(id, 'finished', action.requested > 0 ? `${action.requested} requests not carried out within the wait` : null);
      progress(finished);
      await this.audit.record({ actor, action: 'bulk.finish', target: `action ${id}`, count: finished.total, outcome: 'finished', detail: counts(finished) });
      return finished;
    } catch (error) {
      const failed = await this.end(id, 'failed', describe(error)).catch(() => action);
      progress(failed);
      await this.audit.record({ actor, action: 'bulk.finish', target: `action ${id}`, count: action.total, outcome: 'failed', detail: { error: describe(error) } }).catch(() => {});
      throw error;
    }
  }

  /** Stops an action that has not ended: no further member is requested (requests already written are carried out). */
  async cancel(id: number, actor: string): Promise<OperatorAction> {
    const { rows } = await this.pool.query<Row>(
      `UPDATE ${this.table} SET status = 'cancelled', finished_at = now() WHERE id = $1 AND status IN ('frozen', 'running', 'settling') RETURNING *`,
      [actionId(id)],
    );
    if (!rows[0]) {
      const current = await this.get(id);
      throw new OperatorActionError(id, `is ${current.status}: only a frozen or running action can be cancelled`, 'state');
    }
    await this.audit.record({ actor: text('actor', actor, 200), action: 'bulk.cancel', target: `action ${id}`, count: rows[0].total, outcome: 'cancelled' });
    return toAction(rows[0]);
  }

  /** One action; {@link OperatorActionError} if there is none. */
  async get(id: number): Promise<OperatorAction> {
    const { rows } = await this.pool.query<Row>(`SELECT * FROM ${this.table} WHERE id = $1`, [actionId(id)]);
    if (!rows[0]) throw new OperatorActionError(id, 'no such action', 'unknown');
    return toAction(rows[0]);
  }

  /** The latest actions, newest first. */
  async list(limit = 50): Promise<OperatorAction[]> {
    const { rows } = await this.pool.query<Row>(`SELECT * FROM ${this.table} ORDER BY id DESC LIMIT $1`, [Math.min(Math.max(1, Math.trunc(limit)), 500)]);
    return rows.map(toAction);
  }

  /** An action's members, optionally of one outcome (`null`: not acted on yet), at most `limit`. */
  async members(id: number, options: { outcome?: ActionMember['outcome']; limit?: number } = {}): Promise<ActionMember[]> {
    const { rows } = await this.pool.query<{ owner: string; item_key: string; outcome: ActionMember['outcome']; detail: string | null }>(
      `SELECT owner, item_key, outcome, detail FROM ${this.schema}.operator_action_members
        WHERE action_id = $1 AND ($2::boolean IS FALSE OR outcome IS NOT DISTINCT FROM $3) ORDER BY owner, item_key LIMIT $4`,
      [actionId(id), options.outcome !== undefined, options.outcome ?? null, Math.min(Math.max(1, Math.trunc(options.limit ?? 100)), 1000)],
    );
    return rows.map((r) => ({ owner: r.owner, key: r.item_key, outcome: r.outcome, detail: r.detail }));
  }

  private async claim(id: number): Promise<OperatorAction> {
    const { rows } = await this.pool.query<Row>(
      `UPDATE ${this.table} SET status = CASE WHEN status = 'frozen' THEN 'running' ELSE status END, runner = $2, heartbeat_at = now(),
              started_at = coalesce(started_at, now())
        WHERE id = $1 AND (status = 'frozen' OR (status IN ('running', 'settling') AND heartbeat_at < now() - $3 * interval '1 millisecond'))
        RETURNING *`,
      [actionId(id), this.processId, STALE_MS],
    );
    if (rows[0]) return toAction(rows[0]);
    const current = await this.get(id);
    throw new OperatorActionError(id, `is ${current.status}${current.runner ? ` (run by ${current.runner})` : ''}: only a frozen action can be run`, 'state');
  }

  /**
   * One step in one transaction: `work`, then the counters and the heartbeat, fenced on this
   * runner and on a status the run may be in. Resolves to `undefined` when the action was
   * cancelled or taken over (the step is rolled back).
   */
  private async step(id: number, status: 'running' | 'settling', work: (db: pg.PoolClient) => Promise<OutcomeCounts>): Promise<{ action: OperatorAction; counts: OutcomeCounts } | undefined> {
    return transaction(this.pool, async (t) => {
      const counts = await work(t.client);
      const settled = (counts.done ?? 0) + (counts.failed ?? 0);
      const { rows } = await t.client.query<Row>(
        `UPDATE ${this.table} SET status = $3, heartbeat_at = now(),
                requested = requested + $4 - $9, done = done + $5, failed = failed + $6, already_resolved = already_resolved + $7, busy = busy + $8
          WHERE id = $1 AND runner = $2 AND status IN ('running', 'settling') RETURNING *`,
        [id, this.processId, status, counts.requested ?? 0, counts.done ?? 0, counts.failed ?? 0, counts.already_resolved ?? 0, counts.busy ?? 0, status === 'settling' ? settled : 0],
      );
      if (!rows[0]) {
        t.setRollbackOnly();
        return undefined;
      }
      return { action: toAction(rows[0]), counts };
    });
  }

  private async end(id: number, status: 'finished' | 'failed', error: string | null): Promise<OperatorAction> {
    const { rows } = await this.pool.query<Row>(
      `UPDATE ${this.table} SET status = $3, finished_at = now(), error = $4 WHERE id = $1 AND runner = $2 AND status IN ('running', 'settling') RETURNING *`,
      [id, this.processId, status, error],
    );
    return rows[0] ? toAction(rows[0]) : this.get(id);
  }

  /** Gives an action back (status `frozen`, no runner): a later run goes on where this one stopped. */
  private async interrupt(id: number, actor: string): Promise<OperatorAction> {
    await this.pool.query(`UPDATE ${this.table} SET status = 'frozen', runner = NULL, heartbeat_at = NULL WHERE id = $1 AND runner = $2 AND status IN ('running', 'settling')`, [
      id,
      this.processId,
    ]);
    const current = await this.get(id);
    await this.audit.record({ actor, action: 'bulk.finish', target: `action ${id}`, count: current.total, outcome: 'interrupted', detail: counts(current) });
    return current;
  }

  private async finishStopped(id: number, actor: string): Promise<OperatorAction> {
    const current = await this.get(id);
    await this.audit.record({ actor, action: 'bulk.finish', target: `action ${id}`, count: current.total, outcome: current.status, detail: counts(current) });
    return current;
  }
}

function counts(action: OperatorAction): Record<string, number> {
  return { done: action.done, failed: action.failed, alreadyResolved: action.alreadyResolved, busy: action.busy, requested: action.requested, pending: action.pending };
}

function actionId(id: unknown): number {
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) throw new InvalidArgumentError('actionId', 'must be a whole number ≥ 1');
  return id;
}

function toAction(row: Row): OperatorAction {
  const acted = row.requested + row.done + row.failed + row.already_resolved + row.busy;
  return {
    id: Number(row.id),
    kind: row.kind,
    target: row.target,
    filter: row.filter,
    reason: row.reason,
    status: row.status,
    total: row.total,
    requested: row.requested,
    done: row.done,
    failed: row.failed,
    alreadyResolved: row.already_resolved,
    busy: row.busy,
    pending: Math.max(0, row.total - acted),
    requestedBy: row.requested_by,
    runner: row.runner,
    error: row.error,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}
