import { AdminRequestError, HeraldError } from '../../errors.js';
import { control, CONTROL_FIELDS, type ControlAction } from '../api/controls.js';
import { ACT_FIELDS, cancelAction, freeze, retryEvent, retryMessage, runAction, skipEvent, skipMessage } from '../api/act.js';
import { loadAction, loadAudit, loadFailureList, loadFailures, loadJourney, loadParkedEvent, loadParkedMessage, loadSearch } from '../api/read.js';
import { loadSagaInstance, loadSagas, SAGA_INSTANCE_FIELDS, SAGA_LIST_FIELDS } from '../api/sagas.js';
import { query, type SafeHtml } from '../html.js';
import { bodyFields, queryFields } from '../http/request.js';
import { redirect, sendHtml } from '../http/respond.js';
import { FILTER_FIELDS, filterFromFields, type Input, SEARCH_FIELDS, searchFromFields, targetField } from '../input.js';
import { contextOf, type Exchange, link, type Panel, type Route } from '../routing.js';
import { actionPage, actionsPage, bulkPage } from './bulk.js';
import { failureListPage, failuresPage } from './failures.js';
import { parkedEventPage, parkedMessagePage } from './failure-item.js';
import { overviewPage } from './overview.js';
import { sagaInstancePage, sagasPage } from './sagas.js';
import { auditPage, journeyPage, searchPage } from './search.js';

/** A page: its query fields checked against `allowed`, then rendered. */
function page(path: string, allowed: readonly string[], render: (exchange: Exchange, fields: Input) => Promise<SafeHtml>): Route {
  return {
    method: 'GET',
    path,
    access: 'viewer',
    api: false,
    async handle(exchange) {
      sendHtml(exchange.res, 200, await render(exchange, queryFields(exchange.url.search.slice(1), allowed)));
    },
  };
}

/**
 * A form's POST: acts, then redirects (post/redirect/get) with a one-time message. A refusal of
 * the operation itself (not parked any more, busy, action not runnable) goes back with the reason;
 * bad input is a 400 page.
 */
function form(path: string, allowed: readonly string[], act: (exchange: Exchange, fields: Input) => Promise<{ to: string; message: string }>, back: (panel: Panel, fields: Input) => string): Route {
  return {
    method: 'POST',
    path,
    access: 'operator',
    api: false,
    async handle(exchange) {
      const fields = bodyFields(exchange.body!, allowed);
      try {
        const { to, message } = await act(exchange, fields);
        if (exchange.session) exchange.session.flash = { kind: 'ok', text: message };
        redirect(exchange.res, to);
      } catch (error) {
        const refused =
          (error instanceof HeraldError && ['HERALD_NOT_PARKED', 'HERALD_PARKED_EVENT_BUSY', 'HERALD_OPERATOR_ACTION'].includes(error.code)) ||
          (error instanceof AdminRequestError && (error.status === 404 || error.status === 409));
        if (!refused) throw error;
        if (exchange.session) exchange.session.flash = { kind: 'error', text: error.message };
        redirect(exchange.res, back(exchange.panel, fields));
      }
    },
  };
}

const names = (panel: Panel) => [...panel.settings.contexts.keys()];
/** The named context, or the first when none is named (pages that show one context at a time). */
const oneContext = (panel: Panel, fields: Input) => contextOf(panel, fields.context ?? (panel.settings.contexts.size > 1 ? names(panel)[0] : undefined));

const eventPage = (panel: Panel, f: Input) => link(panel, `/failures/event${query({ context: f.context as string, subscription: f.subscription as string, eventNumber: f.eventNumber as string })}`);
const messagePage = (panel: Panel, f: Input) => link(panel, `/failures/message${query({ context: f.context as string, consumer: f.consumer as string, key: f.key as string })}`);
const actionView = (panel: Panel, f: Input) => link(panel, `/actions/view${query({ context: f.context as string, id: f.id as string })}`);

export const pageRoutes: readonly Route[] = [
  page('/', [], async (exchange) => overviewPage(exchange, await exchange.panel.sampler.latest())),
  page('/failures', ['context'], async (exchange, fields) => {
    const contexts = fields.context ? [contextOf(exchange.panel, fields.context)] : [...exchange.panel.settings.contexts.values()];
    return failuresPage(exchange, await Promise.all(contexts.map(loadFailures)));
  }),
  page('/failures/list', ['context', 'target', ...FILTER_FIELDS, 'cursor', 'limit'], async (exchange, fields) => {
    const herald = contextOf(exchange.panel, fields.context);
    return failureListPage(exchange, herald.context, filterFromFields(fields), await loadFailureList(herald, fields), fields);
  }),
  page('/failures/event', ['context', 'subscription', 'eventNumber'], async (exchange, fields) => {
    const found = await loadParkedEvent(contextOf(exchange.panel, fields.context), fields);
    return parkedEventPage(exchange, found.context, found.item, found.event);
  }),
  page('/failures/message', ['context', 'consumer', 'key'], async (exchange, fields) => {
    const found = await loadParkedMessage(contextOf(exchange.panel, fields.context), fields);
    return parkedMessagePage(exchange, found.context, found.item);
  }),
  page('/bulk', ['context', 'target', ...FILTER_FIELDS], async (exchange, fields) => {
    const herald = oneContext(exchange.panel, fields);
    const target = targetField(fields);
    const filter = filterFromFields(fields);
    return bulkPage(exchange, names(exchange.panel), herald.context, target, filter, await herald.operations.bulk.dryRun(target, filter));
  }),
  page('/actions', [], async (exchange) =>
    actionsPage(exchange, await Promise.all([...exchange.panel.settings.contexts.values()].map(async (c) => ({ context: c.context, actions: await c.operations.bulk.list(30) })))),
  ),
  page('/actions/view', ['context', 'id'], async (exchange, fields) => {
    const found = await loadAction(contextOf(exchange.panel, fields.context), fields);
    return actionPage(exchange, found.context, found.action, found.failed);
  }),
  page('/search', ['context', ...SEARCH_FIELDS, 'cursor', 'limit'], async (exchange, fields) => {
    const herald = oneContext(exchange.panel, fields);
    const asked = SEARCH_FIELDS.some((f) => fields[f] !== undefined) || fields.cursor !== undefined;
    return searchPage(exchange, names(exchange.panel), herald.context, searchFromFields(fields), asked ? await loadSearch(herald, fields) : null, fields);
  }),
  page('/journey', ['context', 'event'], async (exchange, fields) => {
    const herald = oneContext(exchange.panel, fields);
    return journeyPage(exchange, herald.context, await loadJourney(exchange.panel, herald, fields));
  }),
  page('/audit', ['context', 'actor', 'action', 'cursor', 'limit'], async (exchange, fields) => {
    const herald = oneContext(exchange.panel, fields);
    const { entries, nextCursor } = await loadAudit(herald, fields);
    return auditPage(exchange, names(exchange.panel), herald.context, entries, nextCursor, fields);
  }),
  page('/sagas', SAGA_LIST_FIELDS, async (exchange, fields) => sagasPage(exchange, await loadSagas(exchange.panel, fields), fields)),
  page('/sagas/instance', SAGA_INSTANCE_FIELDS, async (exchange, fields) => {
    const found = await loadSagaInstance(exchange.panel, fields);
    return sagaInstancePage(exchange, found.context, found.instance);
  }),
  ...(Object.keys(CONTROL_FIELDS) as ControlAction[]).map((action) =>
    form(
      `/subscriptions/${action}`,
      CONTROL_FIELDS[action],
      async (exchange, fields) => {
        const { status } = await control(exchange, action, fields);
        return { to: link(exchange.panel, '/'), message: `${String(fields.name)}: ${status}.` };
      },
      (panel) => link(panel, '/'),
    ),
  ),
  form(
    '/failures/event/retry',
    ACT_FIELDS.retryEvent,
    async (exchange, fields) => {
      await retryEvent(exchange, { ...fields, wait: undefined });
      return { to: eventPage(exchange.panel, fields), message: 'Retry requested: the subscription will try it again.' };
    },
    eventPage,
  ),
  form(
    '/failures/event/skip',
    ACT_FIELDS.skipEvent,
    async (exchange, fields) => {
      await skipEvent(exchange, fields);
      return { to: eventPage(exchange.panel, fields), message: 'Skip requested: the events behind it will go on.' };
    },
    eventPage,
  ),
  form(
    '/failures/message/retry',
    ACT_FIELDS.retryMessage,
    async (exchange, fields) => {
      await retryMessage(exchange, { ...fields, wait: undefined });
      return { to: messagePage(exchange.panel, fields), message: 'Retry requested: the consumer will try it again.' };
    },
    messagePage,
  ),
  form(
    '/failures/message/skip',
    ACT_FIELDS.skipMessage,
    async (exchange, fields) => {
      await skipMessage(exchange, fields);
      return { to: messagePage(exchange.panel, fields), message: 'Skip requested.' };
    },
    messagePage,
  ),
  form(
    '/bulk/freeze',
    ACT_FIELDS.freeze,
    async (exchange, fields) => {
      const action = await freeze(exchange, fields);
      return { to: actionView(exchange.panel, { context: fields.context, id: String(action.id) }), message: `Frozen: ${action.total} failures. Run it to ${action.kind} them.` };
    },
    (panel, fields) => link(panel, `/bulk${query({ context: fields.context as string })}`),
  ),
  form(
    '/actions/run',
    ACT_FIELDS.action,
    async (exchange, fields) => {
      const action = await runAction(exchange, fields);
      return { to: actionView(exchange.panel, fields), message: `Running action ${action.id} on its ${action.total} frozen failures.` };
    },
    actionView,
  ),
  form(
    '/actions/cancel',
    ACT_FIELDS.action,
    async (exchange, fields) => {
      await cancelAction(exchange, fields);
      return { to: actionView(exchange.panel, fields), message: 'Cancelled: no further failure will be requested.' };
    },
    actionView,
  ),
];
