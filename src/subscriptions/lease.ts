import type pg from 'pg';
import { PAYLOADS } from '../runtime/notifications.js';
import type { RestartPolicy } from './definition.js';

/** What a lease renewal reads of operators' controls: paused, and whether a request waits for the holder. */
export interface RenewedControls {
  readonly paused: boolean;
  readonly pending: boolean;
}

/**
 * A subscription's lease: a row-level claim with an expiry, renewed by its holder. Unlike a
 * session advisory lock it works behind connection poolers, and it survives a dropped connection
 * for its time to live, so a network blip does not start a second runner. A dead holder is
 * replaced once the lease expires: takeover time ≤ ttl + the standby's retry interval.
 *
 * Fencing: every checkpoint write is conditional on still being the owner, inside the batch's
 * transaction, so a holder that lost its lease cannot commit effects twice.
 */
export class Lease {
  constructor(
    private readonly pool: pg.Pool,
    private readonly table: string,
    readonly name: string,
    readonly owner: string,
    readonly ttlMs: number,
    private readonly channel: string,
  ) {}

  /**
   * Takes the lease if it is free, expired or already ours; resolves to the stored position, or
   * `undefined` when another process holds it. A failed subscription is only taken when `force`
   * (an explicit start) or when its restart is due, so standby processes do not crash-loop on it.
   */
  async acquire(force: boolean): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ position: string }>(
      `UPDATE ${this.table}
          SET lease_owner = $2, lease_expires_at = now() + $3 * interval '1 millisecond',
              state = 'running', reason = NULL, restart_at = NULL, updated_at = now()
        WHERE name = $1
          AND (lease_owner IS NULL OR lease_owner = $2 OR lease_expires_at < now())
          AND ($4 OR state <> 'failed' OR restart_at <= now())
        RETURNING position`,
      [this.name, this.owner, this.ttlMs, force],
    );
    return rows[0] ? Number(rows[0].position) : undefined;
  }

  /**
   * Extends the lease; resolves `undefined` when it was lost to another process, else what the
   * row says of operators' controls (so a holder that missed a notification learns of them).
   */
  async renew(): Promise<RenewedControls | undefined> {
    const { rows } = await this.pool.query<RenewedControls>(
      `UPDATE ${this.table} SET lease_expires_at = now() + $3 * interval '1 millisecond'
        WHERE name = $1 AND lease_owner = $2
        RETURNING paused_at IS NOT NULL AS paused, (reset_request IS NOT NULL OR (paused_at IS NOT NULL AND pause_effective_at IS NULL)) AS pending`,
      [this.name, this.owner, this.ttlMs],
    );
    return rows[0];
  }

  /**
   * Gives the lease up, records why the subscription is no longer running here, and wakes
   * standbys. With `restart`, a failed subscription is due again after `delayMs` doubled per
   * restart since its last progress (capped at `maxDelayMs`), unless `maxRestarts` were used up.
   */
  async release(state: 'stopped' | 'failed', reason: string | null, restart?: RestartPolicy): Promise<void> {
    await this.pool.query(
      `WITH released AS (
         UPDATE ${this.table}
            SET lease_owner = NULL, lease_expires_at = NULL, state = $3, reason = $4, updated_at = now(),
                restart_at = CASE WHEN $7::float8 IS NOT NULL AND restarts < $9
                                  THEN now() + least($8::float8, $7::float8 * 2 ^ restarts) * interval '1 millisecond' END,
                restarts = restarts + CASE WHEN $7::float8 IS NOT NULL AND restarts < $9 THEN 1 ELSE 0 END
          WHERE name = $1 AND lease_owner = $2 RETURNING 1)
       SELECT pg_notify($5, $6) FROM released`,
      [
        this.name,
        this.owner,
        state,
        reason,
        this.channel,
        PAYLOADS.released,
        restart ? (restart.delayMs ?? 1000) : null,
        restart?.maxDelayMs ?? 60_000,
        restart?.maxRestarts ?? 2_147_483_647,
      ],
    );
  }

  /**
   * Moves the checkpoint (inside the batch's transaction, if one is open); `false` means we are no
   * longer the owner. `durable: false` lets it commit without waiting for the disk; `notify` names
   * a channel told about the progress (strong consistency waiters listen there).
   */
  async checkpoint(db: pg.ClientBase | pg.Pool, from: number, to: number, options: { durable: boolean; notify: string | undefined }): Promise<boolean> {
    const result = await db.query({
      name: `herald:checkpoint:${this.table}`,
      text: `WITH side_effects AS (
               SELECT CASE WHEN NOT $5::boolean THEN set_config('synchronous_commit', 'off', true) END AS commit_mode,
                      CASE WHEN $6::text IS NOT NULL THEN pg_notify($6, $7) END AS notified)
             UPDATE ${this.table} SET position = $4, updated_at = now(), restarts = 0
              WHERE name = $1 AND lease_owner = $2 AND position = $3 AND $4 > $3 AND EXISTS (SELECT 1 FROM side_effects)`,
      values: [this.name, this.owner, from, to, options.durable, options.notify ?? null, PAYLOADS.progressed],
    });
    return result.rowCount === 1;
  }

  /** Inside a transaction that does not move the checkpoint: proves we still own the lease (and locks the row). */
  async fence(tx: pg.ClientBase): Promise<boolean> {
    const result = await tx.query(`UPDATE ${this.table} SET updated_at = now() WHERE name = $1 AND lease_owner = $2`, [
      this.name,
      this.owner,
    ]);
    return result.rowCount === 1;
  }

  /** Records the latest failure for status (best effort, outside any batch). */
  async recordError(message: string): Promise<void> {
    await this.pool.query(`UPDATE ${this.table} SET last_error = $2, last_error_at = now() WHERE name = $1`, [this.name, message]);
  }
}
