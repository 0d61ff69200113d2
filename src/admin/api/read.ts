import { AdminRequestError } from '../../errors.js';
import type { RecordedEvent } from '../../events/types.js';
import { eventRef } from '../../operations/journey.js';
import { queryFields } from '../http/request.js';
import { sendJson } from '../http/respond.js';
import { requiredInt, FILTER_FIELDS, filterFromFields, type Input, limitField, required, SEARCH_FIELDS, searchFromFields, stringField, targetField } from '../input.js';
import type { AdminContext } from '../options.js';
import { contextOf, type Exchange, type Panel, type Route } from '../routing.js';
import { loadSagaInstance, loadSagas, SAGA_INSTANCE_FIELDS, SAGA_LIST_FIELDS } from './sagas.js';

/**
 * What the pages show, loaded from the operations; the JSON API returns the same. Every input is
 * checked here (unknown fields, sizes, kinds) before anything reaches the database.
 */

export async function loadFailures(herald: AdminContext) {
  const [events, messages, flagged] = await Promise.all([
    herald.operations.failures.groups('events'),
    herald.operations.failures.groups('messages'),
    herald.deliveries.flagged({ limit: 20 }),
  ]);
  return { context: herald.context, events, messages, flagged };
}

export function loadFailureList(herald: AdminContext, fields: Input) {
  const cursor = stringField(fields, 'cursor', 600);
  return herald.operations.failures.list(targetField(fields), filterFromFields(fields), { ...(cursor ? { cursor } : {}), limit: limitField(fields, 200) ?? 50 });
}

/** One parked event with its payload, or 404. */
export async function loadParkedEvent(herald: AdminContext, fields: Input) {
  const subscription = String(required(fields, 'subscription'));
  const eventNumber = requiredInt(fields, 'eventNumber');
  const item = await herald.parked.get(subscription, eventNumber);
  if (!item) throw new AdminRequestError(404, `event ${eventNumber} is not parked in '${subscription}'`);
  const [event] = await herald.readLog(eventNumber - 1, 1);
  return { context: herald.context, item, event: event?.metadata.eventNumber === eventNumber ? event : null };
}

/** One stored consumer message, or 404. */
export async function loadParkedMessage(herald: AdminContext, fields: Input) {
  const consumer = String(required(fields, 'consumer'));
  const key = stringField(fields, 'key', 500) ?? String(required(fields, 'key'));
  const item = await herald.parkedMessages.get(consumer, key);
  if (!item) throw new AdminRequestError(404, `no stored message '${key}' for consumer '${consumer}'`);
  return { context: herald.context, item };
}

export async function loadAction(herald: AdminContext, fields: Input) {
  const id = requiredInt(fields, 'id');
  const action = await herald.operations.bulk.get(id);
  const failed = await herald.operations.bulk.members(id, { outcome: 'failed', limit: 50 });
  return { context: herald.context, action, failed };
}

export function loadSearch(herald: AdminContext, fields: Input) {
  const cursor = stringField(fields, 'cursor', 600);
  return herald.operations.search.search(searchFromFields(fields), { ...(cursor ? { cursor } : {}), limit: limitField(fields, 200) ?? 50 });
}

/** An event's journey here, and where it stands in the consumers of the panel's other contexts. */
export async function loadJourney(panel: Panel, herald: AdminContext, fields: Input) {
  const ref = eventRef(required(fields, 'event'));
  const journey = await herald.operations.journeys.journey(ref);
  if (!journey) throw new AdminRequestError(404, `no event ${ref} in context '${herald.context}'`);
  const others = [...panel.settings.contexts.values()].filter((c) => c !== herald);
  const received = await Promise.all(
    others.map(async (c) => ({ context: c.context, consumers: await c.operations.journeys.received(herald.context, journey.event.metadata.eventId) })),
  );
  return { context: herald.context, ...journey, received: received.filter((r) => r.consumers.length > 0) };
}

export function loadAudit(herald: AdminContext, fields: Input) {
  const cursor = stringField(fields, 'cursor', 600);
  const actor = stringField(fields, 'actor', 200);
  const action = stringField(fields, 'action', 100);
  return herald.operations.audit.list({ ...(actor ? { actor } : {}), ...(action ? { action } : {}) }, { ...(cursor ? { cursor } : {}), limit: limitField(fields, 200) ?? 50 });
}

/** The payload and metadata of an event, for the API (dates as ISO strings by JSON). */
export function eventJson(event: RecordedEvent | null) {
  return event ? { type: event.type, data: event.data, metadata: event.metadata } : null;
}

/** A GET route of the JSON API: fields checked against `allowed`, answer as JSON. */
function get(path: string, allowed: readonly string[], load: (exchange: Exchange, fields: Input) => Promise<unknown>): Route {
  return {
    method: 'GET',
    path: `/api${path}`,
    access: 'viewer',
    api: true,
    async handle(exchange) {
      const fields = queryFields(exchange.url.search.slice(1), allowed);
      sendJson(exchange.res, 200, await load(exchange, fields));
    },
  };
}

const ctx = (exchange: Exchange, fields: Input) => contextOf(exchange.panel, fields.context);

export const apiReadRoutes: readonly Route[] = [
  get('/session', [], async ({ user, session, panel }) => ({ user: user?.name, role: user?.role, csrfToken: session?.csrf, contexts: [...panel.settings.contexts.keys()] })),
  get('/overview', [], async ({ panel }) => ({ contexts: await panel.sampler.latest() })),
  get('/failures', ['context'], async (exchange, fields) => loadFailures(ctx(exchange, fields))),
  get('/failures/list', ['context', 'target', ...FILTER_FIELDS, 'cursor', 'limit'], async (exchange, fields) => loadFailureList(ctx(exchange, fields), fields)),
  get('/failures/event', ['context', 'subscription', 'eventNumber'], async (exchange, fields) => {
    const found = await loadParkedEvent(ctx(exchange, fields), fields);
    return { ...found, event: eventJson(found.event) };
  }),
  get('/failures/message', ['context', 'consumer', 'key'], async (exchange, fields) => loadParkedMessage(ctx(exchange, fields), fields)),
  get('/bulk/dry-run', ['context', 'target', ...FILTER_FIELDS], async (exchange, fields) => ({
    count: await ctx(exchange, fields).operations.bulk.dryRun(targetField(fields), filterFromFields(fields)),
  })),
  get('/actions', ['context'], async (exchange, fields) => ({ actions: await ctx(exchange, fields).operations.bulk.list(50) })),
  get('/actions/one', ['context', 'id'], async (exchange, fields) => loadAction(ctx(exchange, fields), fields)),
  get('/search', ['context', ...SEARCH_FIELDS, 'cursor', 'limit'], async (exchange, fields) => loadSearch(ctx(exchange, fields), fields)),
  get('/journey', ['context', 'event'], async (exchange, fields) => {
    const journey = await loadJourney(exchange.panel, ctx(exchange, fields), fields);
    return { ...journey, event: eventJson(journey.event) };
  }),
  get('/audit', ['context', 'actor', 'action', 'cursor', 'limit'], async (exchange, fields) => loadAudit(ctx(exchange, fields), fields)),
  get('/sagas', SAGA_LIST_FIELDS, async (exchange, fields) => loadSagas(exchange.panel, fields)),
  get('/sagas/instance', SAGA_INSTANCE_FIELDS, async (exchange, fields) => loadSagaInstance(exchange.panel, fields)),
];
