import type pg from 'pg';
import { InvalidArgumentError, UnknownSubscriptionError } from '../errors.js';
import { validateSubscriptionName } from '../sql/identifiers.js';
import { notify } from '../runtime/notifications.js';

/**
 * Operator controls of a log's subscriptions, from any process: they change the stored state and
 * notify, and whichever process has the subscription registered acts on it.
 */
export class SubscriptionControl {
  constructor(
    private readonly pool: pg.Pool,
    private readonly quotedSchema: string,
    private readonly channel: string,
  ) {}

  /**
   * Restarts a subscription that failed (its error policy said `stop`, or `init()` failed): it
   * is marked stopped, and a process that has it registered — the one it failed in, or a standby —
   * takes it again and goes on from its checkpoint, the failing event first.
   * Throws `UnknownSubscriptionError`, or `InvalidArgumentError` when it has not failed.
   */
  async restart(name: string): Promise<void> {
    validateSubscriptionName(name);
    const { rows } = await this.pool.query<{ state: string; restarted: boolean }>(
      `WITH seen AS (SELECT state FROM ${this.quotedSchema}.subscriptions WHERE name = $1 FOR UPDATE),
            restarted AS (
              UPDATE ${this.quotedSchema}.subscriptions SET state = 'stopped', reason = 'restart requested by an operator', restarts = 0, restart_at = NULL, updated_at = now()
               WHERE name = $1 AND (SELECT state FROM seen) = 'failed' RETURNING 1)
       SELECT state, EXISTS (SELECT 1 FROM restarted) AS restarted FROM seen`,
      [name],
    );
    const found = rows[0];
    if (!found) throw new UnknownSubscriptionError(name);
    if (!found.restarted) throw new InvalidArgumentError('subscription', `'${name}' is ${found.state}, not failed: only a failed subscription can be restarted`);
    await notify(this.pool, this.channel, 'restart-requested');
  }
}
