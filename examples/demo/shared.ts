/** What the demo's contexts share: their names, and how one handles what another sent it. */
import type { SqlExecutor } from '../../src/index.js';
import type { SagaEvent } from '../../src/sagas/index.js';

export const CONTEXTS = ['orders', 'inventory', 'payments', 'shipping'] as const;
export type ContextKey = (typeof CONTEXTS)[number];

/** Schema (and context) names: `<prefix>orders`, … */
export type ContextNames = Readonly<Record<ContextKey, string>>;

export function contextNames(prefix: string): ContextNames {
  return Object.fromEntries(CONTEXTS.map((key) => [key, `${prefix}${key}`])) as Record<ContextKey, string>;
}

/**
 * An event from another context's log, as a PostgreSQL subscription (a recorded event) or a broker
 * consumer (a received CloudEvent) delivers it: both carry these fields.
 */
export type Incoming = SagaEvent;

/** Handles one incoming event inside the delivery's transaction (its checkpoint or inbox commits with it). */
export type Handler = (event: Incoming, tx: SqlExecutor) => Promise<void>;

/**
 * Every context writes each message it applies into its `applied` table, in the transaction of
 * the effect. No unique constraint on purpose: the ledger counts rows per message id, so a message
 * applied twice would show as a duplicate instead of failing.
 */
export function appliedTable(s: string): string {
  return `CREATE TABLE ${s}.applied (message_id text NOT NULL, type text NOT NULL, order_id text NOT NULL, at timestamptz NOT NULL DEFAULT now())`;
}

/** Wraps handlers so each application is recorded in `applied` with its effect. */
export function recorded(schema: string, handlers: Readonly<Record<string, Handler>>): Record<string, Handler> {
  return Object.fromEntries(
    Object.entries(handlers).map(([type, handle]) => [
      type,
      async (event: Incoming, tx: SqlExecutor) => {
        const orderId = (event.data as { orderId?: unknown }).orderId;
        await tx.query(`INSERT INTO ${schema}.applied (message_id, type, order_id) VALUES ($1, $2, $3)`, [event.metadata.eventId, event.type, String(orderId)]);
        await handle(event, tx);
      },
    ]),
  );
}

/** The causation and correlation of what an incoming event causes. */
export function causedBy(event: Incoming): { causationId: string; correlationId: string } {
  return { causationId: event.metadata.eventId, correlationId: event.metadata.correlationId ?? event.metadata.eventId };
}
