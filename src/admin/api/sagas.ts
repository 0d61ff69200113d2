/**
 * What the Sagas pages show, for the pages and the JSON API: each context's sagas with counts, a
 * page of instances filtered by saga and status, one instance with its pending timeouts, and the
 * events a saga found no instance for. Read only: an instance moves by events alone, and the
 * sagas module has no operator action to offer.
 */
import { AdminRequestError } from '../../errors.js';
import { SAGA_STATUSES, SagaInspector, type SagaStatus } from '../../sagas/inspect.js';
import { quoteIdent, validateSubscriptionName } from '../../sql/identifiers.js';
import { type Input, limitField, stringField } from '../input.js';
import type { AdminContext } from '../options.js';
import { contextOf, type Panel } from '../routing.js';

/** The query fields of the list and of one instance. */
export const SAGA_LIST_FIELDS = ['context', 'saga', 'status', 'cursor', 'limit'] as const;
export const SAGA_INSTANCE_FIELDS = ['context', 'saga', 'key'] as const;

/** Unmatched events shown with a saga: the latest ones. */
const UNMATCHED_SHOWN = 20;

/**
 * The inspector of a context's sagas, or null when there is nothing to inspect: a context given
 * without its pool, or a schema migrated before the saga tables existed.
 */
async function inspectorOf(herald: AdminContext): Promise<SagaInspector | null> {
  if (!herald.pool) return null;
  const inspector = new SagaInspector(herald.pool, quoteIdent(herald.context));
  return (await inspector.available()) ? inspector : null;
}

function sagaField(fields: Input): string | undefined {
  const value = stringField(fields, 'saga', 200);
  if (value === undefined) return undefined;
  try {
    return validateSubscriptionName(value);
  } catch {
    throw new AdminRequestError(400, "field 'saga' must be a saga name: 1-200 letters, digits and _ . : - /", 'saga');
  }
}

function statusField(fields: Input): SagaStatus | undefined {
  const value = fields.status;
  if (value === undefined || value === '') return undefined;
  if (!(SAGA_STATUSES as readonly unknown[]).includes(value)) throw new AdminRequestError(400, `field 'status' must be one of ${SAGA_STATUSES.join(', ')}`, 'status');
  return value as SagaStatus;
}

function keyField(fields: Input): string {
  const key = stringField(fields, 'key', 500);
  if (key === undefined) throw new AdminRequestError(400, "field 'key' is required", 'key');
  return key;
}

/** One context's sagas with their counts; `available: false` when it has no saga tables. */
export interface ContextSagas {
  readonly context: string;
  readonly available: boolean;
  readonly sagas: Awaited<ReturnType<SagaInspector['sagas']>>;
}

/**
 * The Sagas page: every context's sagas (with counts), and a page of one context's instances —
 * the named context, else the first that has sagas.
 */
export async function loadSagas(panel: Panel, fields: Input) {
  // Every field is checked before anything reaches the database.
  const named = fields.context === undefined ? undefined : contextOf(panel, fields.context);
  const saga = sagaField(fields);
  const status = statusField(fields);
  const cursor = stringField(fields, 'cursor', 2000);
  const limit = limitField(fields, 200) ?? 50;
  const contexts = [...panel.settings.contexts.values()];
  const found = await Promise.all(
    contexts.map(async (herald) => {
      const inspector = await inspectorOf(herald);
      return { herald, inspector, sagas: inspector ? await inspector.sagas() : [] };
    }),
  );
  const chosen = found.find((f) => f.herald === named) ?? found.find((f) => f.sagas.length > 0) ?? found[0]!;
  const page = chosen.inspector ? await chosen.inspector.page({ saga, status }, { ...(cursor ? { cursor } : {}), limit }) : { instances: [], nextCursor: null };
  const unmatched = chosen.inspector && saga ? await chosen.inspector.unmatched(saga, { limit: UNMATCHED_SHOWN }) : [];
  return {
    context: chosen.herald.context,
    contexts: found.map((f): ContextSagas => ({ context: f.herald.context, available: f.inspector !== null, sagas: f.sagas })),
    filter: { saga: saga ?? null, status: status ?? null },
    instances: page.instances,
    nextCursor: page.nextCursor,
    unmatched,
  };
}

export type SagaList = Awaited<ReturnType<typeof loadSagas>>;

/** One instance with its pending timeouts, or 404. */
export async function loadSagaInstance(panel: Panel, fields: Input) {
  const herald = contextOf(panel, fields.context);
  const saga = sagaField(fields);
  if (saga === undefined) throw new AdminRequestError(400, "field 'saga' is required", 'saga');
  const key = keyField(fields);
  const inspector = await inspectorOf(herald);
  if (!inspector) throw new AdminRequestError(404, `context '${herald.context}' has no saga tables`);
  const instance = await inspector.get(saga, key);
  if (!instance) throw new AdminRequestError(404, `saga '${saga}' has no instance '${key}' in context '${herald.context}'`);
  return { context: herald.context, instance };
}
