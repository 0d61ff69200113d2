import { AdminRequestError } from '../../errors.js';
import { bodyFields } from '../http/request.js';
import { sendJson } from '../http/respond.js';
import { requiredInt, FILTER_FIELDS, filterFromFields, filterFromJson, type Input, kindField, required, stringField, targetField } from '../input.js';
import { contextOf, type Exchange, type Route, userOf } from '../routing.js';
import { control, CONTROL_FIELDS, type ControlAction } from './controls.js';

/**
 * The state-changing requests, shared by the pages' forms and the JSON API. The dispatcher has
 * checked the CSRF token, the session and the operator role before any of these runs; each one
 * checks its fields and acts through the operations, which write the audit log.
 */

function owner(fields: Input, name: string): string {
  const value = required(fields, name);
  if (typeof value !== 'string') throw new AdminRequestError(400, `field '${name}' must be text`, name);
  return value;
}

function eventNumber(fields: Input): number {
  return requiredInt(fields, 'eventNumber');
}

function reason(fields: Input): string {
  const value = stringField(fields, 'reason', 500);
  if (!value || value.trim() === '') throw new AdminRequestError(400, 'a skip needs a reason', 'reason');
  return value;
}

export async function retryEvent(exchange: Exchange, fields: Input) {
  const herald = contextOf(exchange.panel, fields.context);
  return herald.operations.failures.retryEvent(userOf(exchange).name, owner(fields, 'subscription'), eventNumber(fields), { wait: fields.wait === true || fields.wait === 'true', timeoutMs: 10_000 });
}

export async function skipEvent(exchange: Exchange, fields: Input) {
  const herald = contextOf(exchange.panel, fields.context);
  return herald.operations.failures.skipEvent(userOf(exchange).name, owner(fields, 'subscription'), eventNumber(fields), reason(fields));
}

export async function retryMessage(exchange: Exchange, fields: Input) {
  const herald = contextOf(exchange.panel, fields.context);
  return herald.operations.failures.retryMessage(userOf(exchange).name, owner(fields, 'consumer'), owner(fields, 'key'), { wait: fields.wait === true || fields.wait === 'true', timeoutMs: 10_000 });
}

export async function skipMessage(exchange: Exchange, fields: Input) {
  const herald = contextOf(exchange.panel, fields.context);
  return herald.operations.failures.skipMessage(userOf(exchange).name, owner(fields, 'consumer'), owner(fields, 'key'), reason(fields));
}

/** Freezes a bulk action; a form sends the filter as fields, JSON as a `filter` object. */
export async function freeze(exchange: Exchange, fields: Input) {
  const herald = contextOf(exchange.panel, fields.context);
  const kind = kindField(fields);
  const filter = exchange.body?.kind === 'json' ? filterFromJson(fields.filter) : filterFromFields(fields);
  return herald.operations.bulk.freeze({ kind, target: targetField(fields), filter, ...(kind === 'skip' ? { reason: reason(fields) } : {}), actor: userOf(exchange).name });
}

export async function runAction(exchange: Exchange, fields: Input) {
  const herald = contextOf(exchange.panel, fields.context);
  return exchange.panel.runs.start(herald, requiredInt(fields, 'id'), userOf(exchange).name);
}

export async function cancelAction(exchange: Exchange, fields: Input) {
  const herald = contextOf(exchange.panel, fields.context);
  return herald.operations.bulk.cancel(requiredInt(fields, 'id'), userOf(exchange).name);
}

/** The fields each request takes (a form's `_csrf` is taken off before). */
export const ACT_FIELDS = {
  retryEvent: ['context', 'subscription', 'eventNumber', 'wait'],
  skipEvent: ['context', 'subscription', 'eventNumber', 'reason'],
  retryMessage: ['context', 'consumer', 'key', 'wait'],
  skipMessage: ['context', 'consumer', 'key', 'reason'],
  freeze: ['context', 'kind', 'target', 'reason', 'filter', ...FILTER_FIELDS],
  action: ['context', 'id'],
} as const;

function post(path: string, allowed: readonly string[], status: number, act: (exchange: Exchange, fields: Input) => Promise<unknown>): Route {
  return {
    method: 'POST',
    path: `/api${path}`,
    access: 'operator',
    api: true,
    async handle(exchange) {
      sendJson(exchange.res, status, await act(exchange, bodyFields(exchange.body!, allowed)));
    },
  };
}

export const apiActRoutes: readonly Route[] = [
  post('/failures/event/retry', ACT_FIELDS.retryEvent, 200, retryEvent),
  post('/failures/event/skip', ACT_FIELDS.skipEvent, 200, skipEvent),
  post('/failures/message/retry', ACT_FIELDS.retryMessage, 200, retryMessage),
  post('/failures/message/skip', ACT_FIELDS.skipMessage, 200, skipMessage),
  post('/bulk', ACT_FIELDS.freeze, 201, async (exchange, fields) => ({ action: await freeze(exchange, fields) })),
  post('/actions/run', ACT_FIELDS.action, 202, async (exchange, fields) => ({ action: await runAction(exchange, fields) })),
  post('/actions/cancel', ACT_FIELDS.action, 200, async (exchange, fields) => ({ action: await cancelAction(exchange, fields) })),
  ...(Object.keys(CONTROL_FIELDS) as ControlAction[]).map((action) => post(`/subscriptions/${action}`, CONTROL_FIELDS[action], 200, (exchange, fields) => control(exchange, action, fields))),
];
