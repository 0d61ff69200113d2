import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { InvalidArgumentError, UnknownSubscriptionError } from '../errors.js';
import { awaitRequest } from '../parking/requests.js';
import { notify } from '../runtime/notifications.js';
import { validateSubscriptionName } from '../sql/identifiers.js';
import { transaction } from '../sql/transaction.js';
import { ControlRequests, type ControlState, type ResetRequest } from './requests.js';
import { checkTarget, resolveTarget, type ResetTarget } from './targets.js';

export type { ResetTarget } from './targets.js';

/** How a pause ended, as {@link SubscriptionControl.pause} resolves it. */
export interface PauseOutcome {
  /**
   * `paused`: nothing more is handled (its lease holder finished the batch in hand, or nobody runs
   * it); `requested`: the holder did not confirm within the wait (it will, after its batch);
   * `resumed`: a resume came before the holder confirmed.
   */
  readonly status: 'paused' | 'requested' | 'resumed';
  /** The pause in place (an earlier one, when it was already paused). */
  readonly at: Date;
  readonly by: string;
  readonly reason: string | null;
}

/** How a reset ended, as {@link SubscriptionControl.reset} resolves it. */
export interface ResetOutcome {
  /**
   * `reset`: the checkpoint moved from `from` to `to`; `requested`: not carried out within the
   * wait (the lease holder does it after its batch in hand; `from` is the checkpoint stored at the
   * request); `superseded`: a later reset replaced this one before it was carried out.
   */
  readonly status: 'reset' | 'requested' | 'superseded';
  readonly from: number;
  readonly to: number;
}

/** What operators' controls report, as Herald events (emitted by the Herald whose `subscriptions` was called). */
export interface ControlEvents {
  /** An operator paused a subscription or relay (emitted once the pause is stored; not again for one already paused). */
  subscriptionPaused: { subscription: string; by: string; reason: string | null; at: Date };
  /** An operator resumed a paused subscription or relay. */
  subscriptionResumed: { subscription: string; by: string };
  /** An operator's reset of a subscription or relay ended: carried out, still requested after the wait, or superseded. */
  subscriptionReset: { subscription: string; by: string; from: number; to: number; status: ResetOutcome['status'] };
}

/** Emits one of {@link ControlEvents}. */
export type ControlEmit = <K extends keyof ControlEvents>(event: K, payload: ControlEvents[K]) => void;

/** Waiting for an operator request's outcome. */
export interface WaitOptions {
  /** Resolve once the lease holder carried it out. Default `true`. */
  readonly wait?: boolean;
  /** How long to wait; then it resolves with status `requested` (the request stands). Default 30 000 ms. */
  readonly timeoutMs?: number;
  /** Who asks, for status and events (an operator's name). Default: this Herald's `processId`. */
  readonly by?: string;
}

/**
 * Operator controls of a log's subscriptions and relays, from any process: they change the
 * stored row and notify, and whichever process holds the lease acts on it, between two batches;
 * what nobody holds is changed directly in the database. The caller can wait for the outcome.
 */
export class SubscriptionControl {
  private readonly table: string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly quotedSchema: string,
    private readonly channel: string,
    private readonly processId: string,
    private readonly emit: ControlEmit,
  ) {
    this.table = `${quotedSchema}.subscriptions`;
  }

  /**
   * Restarts a subscription that failed (its error policy said `stop`, or `init()` failed): it
   * is marked stopped, and a process that has it registered — the one it failed in, or a standby —
   * takes it again and goes on from its checkpoint, the failing event first.
   * Throws `UnknownSubscriptionError`, or `InvalidArgumentError` when it has not failed.
   */
  async restart(name: string): Promise<void> {
    validateSubscriptionName(name);
    const { rows } = await this.pool.query<{ state: string; restarted: boolean }>(
      `WITH seen AS (SELECT state FROM ${this.table} WHERE name = $1 FOR UPDATE),
            restarted AS (
              UPDATE ${this.table} SET state = 'stopped', reason = 'restart requested by an operator', restarts = 0, restart_at = NULL, updated_at = now()
               WHERE name = $1 AND (SELECT state FROM seen) = 'failed' RETURNING 1)
       SELECT state, EXISTS (SELECT 1 FROM restarted) AS restarted FROM seen`,
      [name],
    );
    const found = rows[0];
    if (!found) throw new UnknownSubscriptionError(name);
    if (!found.restarted) throw new InvalidArgumentError('subscription', `'${name}' is ${found.state}, not failed: only a failed subscription can be restarted`);
    await notify(this.pool, this.channel, 'restart-requested');
  }

  /**
   * Pauses a subscription or relay: its lease holder finishes the batch in hand (a relay: the
   * pages in flight), writes its checkpoint, then handles nothing more — no new events, no
   * retries of parked ones, no operators' retries — while keeping its lease, so no standby runs
   * it either. The pause is stored: a process that starts, or takes over, finds it paused and
   * does not run it (nor call `init()`) until {@link resume}. Pausing one already paused changes
   * nothing. With `wait` (default), resolves once the holder confirmed (status `paused`).
   * Throws `UnknownSubscriptionError`.
   */
  async pause(name: string, options: WaitOptions & { reason?: string } = {}): Promise<PauseOutcome> {
    validateSubscriptionName(name);
    const reason = optionalText('reason', options.reason) ?? null;
    const { by, wait, timeoutMs } = this.waitOptions(options);
    const { rows } = await this.pool.query<{ paused_at: Date }>(
      `UPDATE ${this.table}
          SET paused_at = now(), paused_by = $2, paused_reason = $3, updated_at = now(),
              pause_effective_at = CASE WHEN lease_owner IS NULL OR lease_expires_at < now() THEN now() END
        WHERE name = $1 AND paused_at IS NULL RETURNING paused_at`,
      [name, by, reason],
    );
    const requests = new ControlRequests(this.pool, this.quotedSchema, name);
    if (rows[0]) {
      await notify(this.pool, this.channel, 'control-requested');
      this.emit('subscriptionPaused', { subscription: name, by, reason, at: rows[0].paused_at });
    }
    const first = await requests.read();
    if (!first) throw new UnknownSubscriptionError(name);
    const settled = (state: ControlState | undefined) => !state?.paused || state.paused.confirmed;
    const { row: state } = await awaitRequest(() => requests.read(), settled, wait ? timeoutMs : 0);
    const pause = state?.paused ?? first.paused!;
    const status = !state?.paused ? 'resumed' : state.paused.confirmed ? 'paused' : 'requested';
    return { status, at: pause.at, by: pause.by, reason: pause.reason };
  }

  /**
   * Resumes a paused subscription or relay: its lease holder goes on from its checkpoint (or,
   * if nobody holds it, the next process that takes it). Resolves whether it was paused.
   * Throws `UnknownSubscriptionError`.
   */
  async resume(name: string, options: { by?: string } = {}): Promise<boolean> {
    validateSubscriptionName(name);
    const by = optionalText('by', options.by) ?? this.processId;
    const { rows } = await this.pool.query<{ was_paused: boolean }>(
      `UPDATE ${this.table} s
          SET paused_at = NULL, paused_by = NULL, paused_reason = NULL, pause_effective_at = NULL,
              updated_at = CASE WHEN seen.paused_at IS NULL THEN s.updated_at ELSE now() END
         FROM (SELECT name, paused_at FROM ${this.table} WHERE name = $1 FOR UPDATE) seen
        WHERE s.name = seen.name RETURNING seen.paused_at IS NOT NULL AS was_paused`,
      [name],
    );
    const found = rows[0];
    if (!found) throw new UnknownSubscriptionError(name);
    if (!found.was_paused) return false;
    await notify(this.pool, this.channel, 'control-requested');
    this.emit('subscriptionResumed', { subscription: name, by });
    return true;
  }

  /**
   * Moves the checkpoint of a subscription or relay: back to replay events (a relay publishes
   * them again; receivers deduplicate), forward to skip them. `to` is `'origin'` (every event
   * again), `'current'` (the head of the log now: skip everything there is), `{ eventNumber: n }`
   * (the next event handled is n + 1) or `{ time }` (see {@link ResetTarget}).
   *
   * The lease holder carries it out between two batches — after the batch in hand, never racing
   * its checkpoint write — or, when nobody holds the lease, it is done here in the database. A
   * paused subscription is reset too, and stays paused. Open parked or waiting rows of events
   * after the new position are closed (those events come again from the log); rows up to it stay.
   * A later reset replaces one still pending. With `wait` (default), resolves once carried out.
   *
   * Throws `UnknownSubscriptionError`, or `InvalidArgumentError` for a bad `to` (an event number
   * beyond the head, a time that is not a valid Date, …).
   */
  async reset(name: string, to: ResetTarget, options: WaitOptions = {}): Promise<ResetOutcome> {
    validateSubscriptionName(name);
    const target = checkTarget(to);
    const { by, wait, timeoutMs } = this.waitOptions(options);
    const requests = new ControlRequests(this.pool, this.quotedSchema, name);
    const id = randomUUID();
    const { request, stored, unheld } = await transaction(this.pool, async ({ client }) => {
      const seen = await requests.read(client, true);
      if (!seen) throw new UnknownSubscriptionError(name);
      const position = await resolveTarget(client, this.quotedSchema, target);
      const { rows } = await client.query<{ at: Date }>(
        `UPDATE ${this.table} SET reset_request = jsonb_build_object('id', $2::text, 'to', $3::bigint, 'by', $4::text, 'at', now()), updated_at = now()
          WHERE name = $1 RETURNING now() AS at`,
        [name, id, position, by],
      );
      const pending: ResetRequest = { id, to: position, by, at: rows[0]!.at };
      return { request: pending, stored: seen.position, unheld: seen.unheld };
    });
    if (!unheld) await notify(this.pool, this.channel, 'control-requested');
    const outcome = await this.follow(requests, request, stored, wait ? timeoutMs : 0);
    this.emit('subscriptionReset', { subscription: name, by, ...outcome });
    return outcome;
  }

  /**
   * Waits for a reset request's outcome; carries it out itself whenever nobody holds the lease
   * (nobody did, or the holder stopped before it got to it).
   */
  private async follow(requests: ControlRequests, request: ResetRequest, stored: number, timeoutMs: number): Promise<ResetOutcome> {
    const look = async (): Promise<ResetOutcome | undefined> => {
      const state = await requests.read();
      if (state?.lastReset?.id === request.id) return { status: 'reset', from: state.lastReset.from, to: state.lastReset.to };
      if (state?.reset?.id !== request.id) return { status: 'superseded', from: state?.position ?? stored, to: request.to };
      if (!state.unheld) return undefined;
      const done = await requests.carryOut(request);
      return typeof done === 'object' ? { status: 'reset', from: done.from, to: done.to } : undefined;
    };
    const { row } = await awaitRequest(look, (outcome) => outcome !== undefined, timeoutMs);
    return row ?? { status: 'requested', from: stored, to: request.to };
  }

  private waitOptions(options: WaitOptions): { by: string; wait: boolean; timeoutMs: number } {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options', 'pass an object, e.g. { wait: true, timeoutMs: 30000 }');
    const timeoutMs = options.timeoutMs ?? 30_000;
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0) throw new InvalidArgumentError('timeoutMs', `use a number of milliseconds ≥ 0, got ${JSON.stringify(timeoutMs)}`);
    if (options.wait !== undefined && typeof options.wait !== 'boolean') throw new InvalidArgumentError('wait', `use true or false, got ${JSON.stringify(options.wait)}`);
    return { by: optionalText('by', options.by) ?? this.processId, wait: options.wait ?? true, timeoutMs };
  }
}

/** An optional, non-empty text of at most 1000 characters. */
function optionalText(what: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim().length === 0 || value.length > 1000) {
    throw new InvalidArgumentError(what, `use a non-empty text of at most 1000 characters, got ${JSON.stringify(value)}`);
  }
  return value;
}
