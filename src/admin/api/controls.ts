/**
 * Pause, resume, reset and restart of a subscription or relay from the panel: requests carried
 * out by the process that holds it (see `herald.subscriptions`), each written to the audit log.
 */
import { AdminRequestError, HeraldError } from '../../errors.js';
import type { ResetTarget } from '../../subscriptions/targets.js';
import type { Input } from '../input.js';
import { stringField } from '../input.js';
import { contextOf, type Exchange, userOf } from '../routing.js';

export const CONTROL_FIELDS = {
  pause: ['context', 'name', 'reason'],
  resume: ['context', 'name'],
  reset: ['context', 'name', 'to'],
  restart: ['context', 'name'],
} as const;

export type ControlAction = keyof typeof CONTROL_FIELDS;

function loopName(fields: Input): string {
  const name = stringField(fields, 'name', 200);
  if (!name) throw new AdminRequestError(400, "field 'name' is required", 'name');
  return name;
}

/** `origin`, `current`, an event number, or an ISO 8601 time. */
export function resetTarget(fields: Input): ResetTarget {
  const to = stringField(fields, 'to', 40)?.trim();
  if (to === 'origin' || to === 'current') return to;
  if (to && /^\d{1,15}$/.test(to)) return { eventNumber: Number(to) };
  const time = to && /^\d{4}-\d{2}-\d{2}/.test(to) ? new Date(to) : undefined;
  if (time && !Number.isNaN(time.getTime())) return { time };
  throw new AdminRequestError(400, "field 'to' must be origin, current, an event number or an ISO 8601 time", 'to');
}

/** Carries out one control and records it in the audit log (refusals too). */
export async function control(exchange: Exchange, action: ControlAction, fields: Input): Promise<{ status: string; detail: Record<string, unknown> }> {
  const herald = contextOf(exchange.panel, fields.context);
  const controls = herald.subscriptions;
  if (!controls) throw new AdminRequestError(404, 'this context has no subscription controls');
  const name = loopName(fields);
  const by = `${userOf(exchange).name} (admin panel)`;
  const record = (outcome: string, detail: Record<string, unknown>) =>
    herald.operations.audit.record({ actor: userOf(exchange).name, action: `subscription.${action}`, target: name, outcome, detail });
  try {
    let result: { status: string; detail: Record<string, unknown> };
    if (action === 'pause') {
      const reason = stringField(fields, 'reason', 500) ?? undefined;
      const outcome = await controls.pause(name, { reason, by, wait: false });
      result = { status: outcome.status, detail: { reason: reason ?? null } };
    } else if (action === 'resume') {
      result = { status: (await controls.resume(name, { by })) ? 'resumed' : 'was not paused', detail: {} };
    } else if (action === 'reset') {
      const to = resetTarget(fields);
      const outcome = await controls.reset(name, to, { by, wait: false });
      result = { status: outcome.status, detail: { to: fields.to, from: outcome.from, position: outcome.to } };
    } else {
      await controls.restart(name);
      result = { status: 'restart requested', detail: {} };
    }
    await record(result.status, result.detail);
    return result;
  } catch (error) {
    if (error instanceof HeraldError && ['HERALD_SUBSCRIPTION_UNKNOWN', 'HERALD_INVALID_ARGUMENT'].includes(error.code)) {
      await record(`refused: ${error.code}`, { message: error.message });
      throw new AdminRequestError(error.code === 'HERALD_SUBSCRIPTION_UNKNOWN' ? 404 : 409, error.message, 'name');
    }
    throw error;
  }
}
