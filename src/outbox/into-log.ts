/**
 * An outbox table relayed into Herald's own log, so the log's subscriptions (and its relays) see
 * the rows in commit order: the {@link Transport} that `relayOutbox()` publishes to when the rows
 * should become events of a context instead of (or before) broker messages.
 */
import { InvalidEventPayloadError, MalformedMessageError, PayloadNotSerializableError, TransportError } from '../errors.js';
import type { NewEvent } from '../events/types.js';
import type { SqlExecutor } from '../sql/executor.js';
import { quoteIdent } from '../sql/identifiers.js';
import { decodeCloudEvent } from '../transports/cloudevents.js';
import type { Channel, ConsumeOptions, Consumption, OutgoingMessage, Transport, TransportHealth } from '../transports/transport.js';

/** What the transport needs of a Herald (structural: `outbox/` does not import the Herald class). */
export interface LogTarget {
  readonly context: string;
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  append(tx: SqlExecutor, streamId: string, events: readonly NewEvent[]): Promise<unknown>;
}

/**
 * A transport that appends each relayed row to `herald`'s log: stream = the row's aggregate id,
 * event id = the row's (or the id derived from the table and the row id), the row's id and
 * `occurred_at` in the event's metadata (`outboxId`, `occurredAt`). A page is appended in one
 * transaction, leaving out events already in the log, so a page published again after a lost
 * confirm (a crash before `dispatched_at` was set) adds nothing twice; the relay keeps one page in
 * flight, so each aggregate's rows reach the log in row order. A payload the log's event
 * definitions refuse is a refusal: the relay parks the row (its `onRefused`, `parking` policy).
 *
 * ```ts
 * orders.relayOutbox({ table: 'orders_outbox', schema: 'orders', transport: intoLog(orders) });
 * orders.subscribe({ name: 'orders.projection', handle: async (event, meta, { tx }) => … });
 * ```
 */
export function intoLog(herald: LogTarget): Transport {
  const events = `${quoteIdent(herald.context)}.events`;
  let lastError: string | null = null;
  return {
    kind: 'log',
    // Stream versions are given in commit order: pages must commit one after the other.
    pagesInFlight: 1,
    async publish(channel: Channel, messages: readonly OutgoingMessage[]): Promise<void> {
      if (channel !== 'events' || messages.length === 0) return;
      try {
        await herald.transaction(async (tx) => {
          const { rows } = await tx.query<{ id: string }>(`SELECT event_id::text AS id FROM ${events} WHERE event_id = ANY($1::uuid[])`, [messages.map((m) => m.id)]);
          const present = new Set(rows.map((r) => r.id));
          for (const message of messages) {
            if (present.has(message.id)) continue;
            const event = decodeCloudEvent(message.body);
            const custom = { ...event.metadata.custom, outboxId: event.metadata.eventNumber, occurredAt: event.metadata.createdAt.toISOString() };
            await herald.append(tx, message.key, [{ type: event.type, data: event.data, eventId: message.id, metadata: custom }]);
          }
        });
        lastError = null;
      } catch (error) {
        lastError = (error as Error).message;
        // A payload or type the log refuses will be refused again: park it rather than retry forever.
        const refused = error instanceof InvalidEventPayloadError || error instanceof PayloadNotSerializableError || error instanceof MalformedMessageError;
        throw new TransportError('log', `appending to the ${herald.context} log failed: ${lastError}`, { cause: error, refused });
      }
    },
    async consume(options: ConsumeOptions): Promise<Consumption> {
      throw new TransportError('log', `the log transport only receives relayed rows; consume ${options.source} with a subscription on its log`);
    },
    health(): TransportHealth {
      return { connected: true, lastError };
    },
    async close(): Promise<void> {},
  };
}
