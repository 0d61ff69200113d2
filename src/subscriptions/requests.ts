import type pg from 'pg';
import type { SqlExecutor } from '../sql/executor.js';
import { transaction } from '../sql/transaction.js';

/** A reset an operator asked for, stored on the subscription's row until it is carried out. */
export interface ResetRequest {
  readonly id: string;
  /** The new checkpoint: the last event number counted as handled. */
  readonly to: number;
  readonly by: string;
  readonly at: Date;
}

/** A reset carried out: the checkpoint moved from `from` to `to`. */
export interface ResetRecord extends ResetRequest {
  readonly from: number;
}

/** An operator's pause, as stored. */
export interface PauseRecord {
  readonly at: Date;
  readonly by: string;
  readonly reason: string | null;
  /** The holder confirmed it finished its batch in hand and handles nothing more (or nobody held the lease). */
  readonly confirmed: boolean;
}

/** The operator controls on one subscription's (or relay's) row. */
export interface ControlState {
  readonly position: number;
  readonly paused: PauseRecord | null;
  readonly reset: ResetRequest | null;
  readonly lastReset: ResetRecord | null;
  /** Nobody holds the lease (or it expired): requests are carried out directly in the database. */
  readonly unheld: boolean;
}

/** How an attempt to carry out a reset ended: done, replaced by a later request, or not ours to do (lease or position changed). */
export type ResetAttempt = ResetRecord | 'superseded' | 'fenced';

/** Where a lease holder stands when it carries out a reset: its lease, the stored checkpoint (the fence) and how far it handled. */
export interface HolderPosition {
  readonly owner: string;
  readonly stored: number;
  readonly handled: number;
}

interface ControlRow {
  position: string;
  paused_at: Date | null;
  paused_by: string | null;
  paused_reason: string | null;
  pause_effective_at: Date | null;
  reset_request: { id: string; to: number; by: string; at: string } | null;
  last_reset: { id: string; from: number; to: number; by: string; at: string } | null;
  unheld: boolean;
}

/**
 * The SQL of the operator requests stored on a subscription's row (pause, reset): read and carried
 * out by its lease holder between two batches, or directly here when nobody holds the lease.
 */
export class ControlRequests {
  private readonly table: string;
  private readonly parked: string;

  constructor(
    private readonly pool: pg.Pool,
    quotedSchema: string,
    readonly name: string,
  ) {
    this.table = `${quotedSchema}.subscriptions`;
    this.parked = `${quotedSchema}.parked_events`;
  }

  /** The row's controls; `undefined` when there is no such subscription. `lock` takes the row (inside a transaction). */
  async read(db: SqlExecutor = this.pool, lock = false): Promise<ControlState | undefined> {
    const { rows } = await db.query<ControlRow>(
      `SELECT position, paused_at, paused_by, paused_reason, pause_effective_at, reset_request, last_reset,
              (lease_owner IS NULL OR lease_expires_at < now()) AS unheld
         FROM ${this.table} WHERE name = $1 ${lock ? 'FOR UPDATE' : ''}`,
      [this.name],
    );
    const row = rows[0];
    if (!row) return undefined;
    const reset = row.reset_request;
    const last = row.last_reset;
    return {
      position: Number(row.position),
      paused: row.paused_at
        ? { at: row.paused_at, by: row.paused_by ?? '', reason: row.paused_reason, confirmed: row.pause_effective_at !== null || row.unheld }
        : null,
      reset: reset ? { id: reset.id, to: Number(reset.to), by: reset.by, at: new Date(reset.at) } : null,
      lastReset: last ? { id: last.id, from: Number(last.from), to: Number(last.to), by: last.by, at: new Date(last.at) } : null,
      unheld: row.unheld,
    };
  }

  /** The holder stopped handling: the pause is in effect (only while it is still paused and held by `owner`). */
  async confirmPause(owner: string): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.table} SET pause_effective_at = now()
        WHERE name = $1 AND lease_owner = $2 AND paused_at IS NOT NULL AND pause_effective_at IS NULL`,
      [this.name, owner],
    );
  }

  /**
   * Carries out a reset in one transaction: moves the checkpoint to `request.to`, closes the
   * subscription's open parked rows after it (their events are handled again from the log; see
   * {@link closeParkedAfter}) and records the outcome. A `holder` fences it as its checkpoint
   * writes are — still the lease owner, the stored position as expected — and `from` is how far
   * its loop handled; without one it is done only while nobody holds the lease, from the stored
   * position. Either way only while `request` is the pending one.
   */
  async carryOut(request: ResetRequest, holder?: HolderPosition): Promise<ResetAttempt> {
    return transaction(this.pool, async ({ client }) => {
      const { rows } = await client.query<{ position: string; pending: string | null; owner: string | null; unheld: boolean }>(
        `SELECT position, reset_request->>'id' AS pending, lease_owner AS owner, (lease_owner IS NULL OR lease_expires_at < now()) AS unheld
           FROM ${this.table} WHERE name = $1 FOR UPDATE`,
        [this.name],
      );
      const row = rows[0];
      if (!row || row.pending !== request.id) return 'superseded';
      const stored = Number(row.position);
      if (holder ? row.owner !== holder.owner || stored !== holder.stored : !row.unheld) return 'fenced';
      const from = holder ? holder.handled : stored;
      const done = await client.query<{ at: Date }>(
        `UPDATE ${this.table}
            SET position = $2, reset_request = NULL, updated_at = now(),
                last_reset = jsonb_build_object('id', $3::text, 'from', $4::bigint, 'to', $2::bigint, 'by', $5::text, 'at', now())
          WHERE name = $1 RETURNING now() AS at`,
        [this.name, request.to, request.id, from, request.by],
      );
      await this.closeParkedAfter(client, request.to, `closed by a reset to ${request.to} (by ${request.by}): handled again from the log`);
      return { ...request, from, at: done.rows[0]!.at };
    });
  }

  /**
   * A reset's effect on the subscription's parked and waiting rows: open rows of events after the
   * new position are closed — waiting rows removed, failed ones (scheduled, parked, with a request
   * pending) kept as history, `skipped` with `reason` — since those events come again from the log
   * and meet the handler afresh. Rows up to the position stay as they are (a parked event before
   * it still blocks its stream and waits for an operator).
   */
  private async closeParkedAfter(tx: SqlExecutor, position: number, reason: string): Promise<void> {
    await tx.query(`DELETE FROM ${this.parked} WHERE subscription = $1 AND event_number > $2 AND status = 'waiting'`, [this.name, position]);
    await tx.query(
      `UPDATE ${this.parked} SET status = 'skipped', resolved_at = now(), retry_at = NULL, reason = $3
        WHERE subscription = $1 AND event_number > $2 AND status NOT IN ('retried', 'skipped')`,
      [this.name, position, reason],
    );
  }
}
