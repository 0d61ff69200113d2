import type { SqlExecutor } from '../sql/executor.js';
import type { SubscriptionState, SubscriptionStatus } from './definition.js';

/** A stored state, corrected for a holder that died: "running" with an expired lease is "stalled". */
export function effectiveState(stored: string, leaseExpiresAt: Date | null, now: Date): SubscriptionState {
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
  now: Date;
}

/** Every subscription of a log, read from the database (so it covers all processes). */
export async function readSubscriptionStatus(executor: SqlExecutor, quotedSchema: string, head: number): Promise<SubscriptionStatus[]> {
  const { rows } = await executor.query<SubscriptionRow>(
    `SELECT name, position, consistency, state, reason, lease_owner, lease_expires_at, updated_at, now() AS now
       FROM ${quotedSchema}.subscriptions ORDER BY name`,
  );
  return rows.map((row) => {
    const position = Number(row.position);
    return {
      name: row.name,
      position,
      lag: Math.max(0, head - position),
      state: effectiveState(row.state, row.lease_expires_at, row.now),
      reason: row.reason,
      consistency: row.consistency,
      leaseOwner: row.lease_owner,
      leaseExpiresAt: row.lease_expires_at,
      updatedAt: row.updated_at,
    };
  });
}
