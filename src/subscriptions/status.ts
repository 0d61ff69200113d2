import type { SqlExecutor } from '../sql/executor.js';
import type { SubscriptionState, SubscriptionStatus } from './definition.js';

/**
 * A stored state, corrected for a holder that died ("running" with an expired lease is "stalled")
 * and for an operator's pause ("paused", unless it failed: that needs a restart first).
 */
export function effectiveState(stored: string, leaseExpiresAt: Date | null, now: Date, pausedAt: Date | null = null): SubscriptionState {
  if (pausedAt !== null && stored !== 'failed') return 'paused';
  if (stored === 'running' && (leaseExpiresAt === null || leaseExpiresAt < now)) return 'stalled';
  return stored as SubscriptionState;
}

interface SubscriptionRow {
  name: string;
  position: string;
  consistency: 'eventual' | 'strong';
  state: string;
  reason: string | null;
  lease_owner: string | null;
  lease_expires_at: Date | null;
  updated_at: Date;
  last_error: string | null;
  last_error_at: Date | null;
  restarts: number;
  restart_at: Date | null;
  paused_at: Date | null;
  paused_by: string | null;
  paused_reason: string | null;
  pause_effective_at: Date | null;
  reset_request: { to: number; by: string; at: string } | null;
  last_reset: { from: number; to: number; by: string; at: string } | null;
  parked: string;
  blocked_streams: string;
  now: Date;
}

/** Every subscription of a log, read from the database (so it covers all processes). */
export async function readSubscriptionStatus(executor: SqlExecutor, quotedSchema: string, head: number): Promise<SubscriptionStatus[]> {
  const { rows } = await executor.query<SubscriptionRow>(
    `SELECT s.name, s.position, s.consistency, s.state, s.reason, s.lease_owner, s.lease_expires_at, s.updated_at,
            s.last_error, s.last_error_at, s.restarts, s.restart_at, now() AS now,
            s.paused_at, s.paused_by, s.paused_reason, s.pause_effective_at, s.reset_request, s.last_reset,
            count(p.event_number) FILTER (WHERE p.status NOT IN ('waiting', 'retried', 'skipped')) AS parked,
            count(DISTINCT p.stream_id) AS blocked_streams
       FROM ${quotedSchema}.subscriptions s
       LEFT JOIN ${quotedSchema}.parked_events p ON p.subscription = s.name AND p.status NOT IN ('retried', 'skipped')
      GROUP BY s.name ORDER BY s.name`,
  );
  return rows.map((row) => {
    const position = Number(row.position);
    const unheld = row.lease_owner === null || row.lease_expires_at === null || row.lease_expires_at < row.now;
    return {
      name: row.name,
      position,
      lag: Math.max(0, head - position),
      state: effectiveState(row.state, row.lease_expires_at, row.now, row.paused_at),
      reason: row.reason,
      consistency: row.consistency,
      leaseOwner: row.lease_owner,
      leaseExpiresAt: row.lease_expires_at,
      updatedAt: row.updated_at,
      parked: Number(row.parked),
      blockedStreams: Number(row.blocked_streams),
      lastError: row.last_error && row.last_error_at ? { message: row.last_error, at: row.last_error_at } : null,
      restartAt: row.state === 'failed' ? row.restart_at : null,
      restarts: row.restarts,
      paused: row.paused_at
        ? { at: row.paused_at, by: row.paused_by ?? '', reason: row.paused_reason, inEffect: row.pause_effective_at !== null || unheld }
        : null,
      resetRequested: row.reset_request ? { to: Number(row.reset_request.to), by: row.reset_request.by, at: new Date(row.reset_request.at) } : null,
      lastReset: row.last_reset
        ? { from: Number(row.last_reset.from), to: Number(row.last_reset.to), by: row.last_reset.by, at: new Date(row.last_reset.at) }
        : null,
    };
  });
}
