import { InvalidArgumentError } from '../errors.js';
import type { SqlExecutor } from '../sql/executor.js';

/**
 * Where a reset moves a subscription's checkpoint (the last event counted as handled):
 * - `'origin'`: 0, every event again;
 * - `'current'`: the head of the log when the reset is asked for, skipping everything there is;
 * - `{ eventNumber: n }`: n (0 ≤ n ≤ head), the next event handled is n + 1;
 * - `{ time }`: just before the first event, in log order, recorded at or after `time` — so
 *   every event recorded at or after it is handled (again). "Recorded" is `events.created_at`:
 *   the database clock when the appending transaction began (`now()`). A time after the last
 *   event resolves to the head. Event numbers follow commit order, which can differ a little
 *   from `created_at` order across concurrent transactions: this rule never skips an event
 *   recorded at or after `time`. Finding it scans the log (an operator's action, not a hot path).
 */
export type ResetTarget = 'origin' | 'current' | { readonly eventNumber: number } | { readonly time: Date };

const SHAPE = "use 'origin', 'current', { eventNumber: n } or { time: Date }";

/** Checks the shape of a reset target; a bad one throws {@link InvalidArgumentError} naming the problem. Pure. */
export function checkTarget(to: unknown): ResetTarget {
  if (to === 'origin' || to === 'current') return to;
  if (to === null || typeof to !== 'object' || Array.isArray(to)) throw new InvalidArgumentError('to', `${SHAPE}, got ${describeValue(to)}`);
  const keys = Object.keys(to);
  if (keys.length !== 1 || (keys[0] !== 'eventNumber' && keys[0] !== 'time')) {
    throw new InvalidArgumentError('to', `${SHAPE} (exactly one of eventNumber, time), got an object with ${keys.length === 0 ? 'no keys' : keys.join(', ')}`);
  }
  if ('eventNumber' in to) {
    const n = to.eventNumber;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('to', `eventNumber must be a whole number ≥ 0, got ${describeValue(n)}`);
    return { eventNumber: n };
  }
  const time = (to as { time: unknown }).time;
  if (!(time instanceof Date) || Number.isNaN(time.getTime())) throw new InvalidArgumentError('to', `time must be a valid Date, got ${describeValue(time)}`);
  return { time };
}

/** The event number a checked target stands for, now; an event number beyond the head throws {@link InvalidArgumentError}. */
export async function resolveTarget(db: SqlExecutor, quotedSchema: string, to: ResetTarget): Promise<number> {
  if (to === 'origin') return 0;
  const { rows } = await db.query<{ head: string }>(`SELECT last_event_number AS head FROM ${quotedSchema}.log_head`);
  const head = Number(rows[0]?.head ?? 0);
  if (to === 'current') return head;
  if ('eventNumber' in to) {
    if (to.eventNumber > head) throw new InvalidArgumentError('to', `event ${to.eventNumber} is beyond the head of the log (${head})`);
    return to.eventNumber;
  }
  const found = await db.query<{ first: string | null }>(
    `SELECT min(p.event_number) AS first FROM ${quotedSchema}.positions p JOIN ${quotedSchema}.events e ON e.id = p.id
      WHERE e.created_at >= $1 AND p.event_number <= $2`,
    [to.time, head],
  );
  const first = found.rows[0]?.first;
  return first === null || first === undefined ? head : Number(first) - 1;
}

function describeValue(value: unknown): string {
  if (value instanceof Date) return 'an invalid Date';
  if (value === undefined) return 'undefined';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
