import type { SqlExecutor } from '../sql/executor.js';
import { ACTIONABLE, type FailureFilter, type FailureTarget, filterWhere, TARGETS } from './filter.js';

/**
 * The statements of a bulk action, per target. Table and column names come from {@link TARGETS}
 * (constants); every value is a parameter.
 */

/** What one member became in a step: counts by outcome. */
export type OutcomeCounts = Partial<Record<'requested' | 'done' | 'failed' | 'already_resolved' | 'busy', number>>;

/** Statuses in which a request (or the attempt it started) is still in progress. */
const IN_PROGRESS = ['retry_requested', 'skip_requested', 'retrying'];
/** Statuses of a failure resolved for good. */
const RESOLVED = ['retried', 'skipped'];

/** How many failures of `target` match `filter` and a bulk action would take now. */
export async function countActionable(db: SqlExecutor, schema: string, target: FailureTarget, filter: FailureFilter): Promise<number> {
  const where = filterWhere(target, filter, ACTIONABLE);
  const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.${TARGETS[target].table} WHERE ${where.sql}`, where.values);
  return Number(rows[0]?.n ?? 0);
}

/** Stores the keys of every failure matching `filter` now as members of action `actionId`; resolves to how many. */
export async function freezeMembers(db: SqlExecutor, schema: string, actionId: number, target: FailureTarget, filter: FailureFilter): Promise<number> {
  const t = TARGETS[target];
  const where = filterWhere(target, filter, ACTIONABLE, 2);
  const { rows } = await db.query<{ n: string }>(
    `WITH frozen AS (
       INSERT INTO ${schema}.operator_action_members (action_id, owner, item_key)
       SELECT $1, ${t.owner}, ${t.key}::text FROM ${schema}.${t.table} WHERE ${where.sql}
       RETURNING 1)
     SELECT count(*) AS n FROM frozen`,
    [actionId, ...where.values],
  );
  return Number(rows[0]?.n ?? 0);
}

/**
 * Requests `status` (retry or skip) for the next `limit` members not acted on yet, in one
 * statement. Each member's row is locked and decided on the status it has then, as a single
 * operator request does: still parked or scheduled → requested; resolved (or gone) meanwhile →
 * `already_resolved`; another request or an attempt in progress → `busy`. The lease holder's
 * loop carries the requests out, so a request never runs beside the automatic retry.
 */
export async function requestChunk(
  db: SqlExecutor,
  schema: string,
  actionId: number,
  target: FailureTarget,
  status: 'retry_requested' | 'skip_requested',
  reason: string | null,
  limit: number,
): Promise<OutcomeCounts> {
  const t = TARGETS[target];
  const key = `${t.key}::text`;
  const { rows } = await db.query<{ outcome: keyof OutcomeCounts; n: string }>(
    `WITH chunk AS (
       SELECT owner, item_key FROM ${schema}.operator_action_members
        WHERE action_id = $1 AND outcome IS NULL ORDER BY owner, item_key LIMIT $2
     ), seen AS (
       SELECT f.${t.owner} AS owner, f.${key} AS item_key, f.status
         FROM ${schema}.${t.table} f JOIN chunk c ON f.${t.owner} = c.owner AND f.${t.key} = c.item_key::${t.keyType}
        ORDER BY f.${t.owner}, f.${t.key} FOR UPDATE OF f
     ), requested AS (
       UPDATE ${schema}.${t.table} f SET status = $3, reason = coalesce($4, f.reason)
         FROM seen s WHERE f.${t.owner} = s.owner AND f.${t.key} = s.item_key::${t.keyType} AND s.status = ANY($5::text[])
       RETURNING f.${t.owner} AS owner, f.${key} AS item_key
     ), marked AS (
       UPDATE ${schema}.operator_action_members m
          SET outcome = CASE WHEN r.owner IS NOT NULL THEN 'requested'
                             WHEN s.status IS NULL OR s.status = ANY($6::text[]) THEN 'already_resolved'
                             ELSE 'busy' END,
              detail = coalesce(s.status, 'gone')
         FROM chunk c LEFT JOIN seen s USING (owner, item_key) LEFT JOIN requested r USING (owner, item_key)
        WHERE m.action_id = $1 AND m.owner = c.owner AND m.item_key = c.item_key
       RETURNING m.outcome)
     SELECT outcome, count(*) AS n FROM marked GROUP BY outcome`,
    [actionId, limit, status, reason, [...ACTIONABLE], RESOLVED],
  );
  return Object.fromEntries(rows.map((r) => [r.outcome, Number(r.n)]));
}

/**
 * Settles requested members whose request was carried out: resolved (or, for a held message
 * handled and deleted, gone) → `done`; failed again (parked or scheduled) → `failed` with the
 * error; a message held again for order → `done`. Members still in progress stay requested.
 */
export async function settleRequested(db: SqlExecutor, schema: string, actionId: number, target: FailureTarget): Promise<OutcomeCounts> {
  const t = TARGETS[target];
  const { rows } = await db.query<{ outcome: keyof OutcomeCounts; n: string }>(
    `WITH current AS (
       SELECT m.owner, m.item_key, f.status, f.error_message
         FROM ${schema}.operator_action_members m
         LEFT JOIN ${schema}.${t.table} f ON f.${t.owner} = m.owner AND f.${t.key} = m.item_key::${t.keyType}
        WHERE m.action_id = $1 AND m.outcome = 'requested'
     ), settled AS (
       UPDATE ${schema}.operator_action_members m
          SET outcome = CASE WHEN c.status IN ('parked', 'scheduled') THEN 'failed' ELSE 'done' END,
              detail = CASE WHEN c.status IN ('parked', 'scheduled') THEN c.status || ': ' || coalesce(c.error_message, 'failed again')
                            ELSE coalesce(c.status, 'handled') END
         FROM current c
        WHERE m.action_id = $1 AND m.owner = c.owner AND m.item_key = c.item_key
          AND (c.status IS NULL OR NOT c.status = ANY($2::text[]))
       RETURNING m.outcome)
     SELECT outcome, count(*) AS n FROM settled GROUP BY outcome`,
    [actionId, IN_PROGRESS],
  );
  return Object.fromEntries(rows.map((r) => [r.outcome, Number(r.n)]));
}
