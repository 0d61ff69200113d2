import type pg from 'pg';
import type { RecordedEvent } from '../events/types.js';
import { ConfigError, TransportError } from '../errors.js';
import type { PipelineDefinition, SubscriptionDefinition, SubscriptionHealth, StartFrom } from '../subscriptions/definition.js';
import { encodeCloudEvent } from '../transports/cloudevents.js';
import { readMessages } from './page.js';
import type { OutgoingMessage, Transport } from '../transports/transport.js';

/** How to relay a context's log to a broker. */
export interface RelayOptions {
  /** The broker adapter: `rabbitmq()`, `nats()` or `redis()` from `herald/transports/*`. */
  readonly transport: Transport;
  /** Durable name of the relay's subscription. Default `relay:<transport kind>`. */
  readonly name?: string;
  /**
   * Most messages in flight (published, not confirmed yet) at once. The relay hands the broker
   * pages of `window / pages` events and keeps up to `pages` of them in flight, so the broker's
   * pipeline stays full while earlier pages are being confirmed. Default 1000.
   */
  readonly window?: number;
  /** Pages the window is cut into. Default 4. */
  readonly pages?: number;
  /** A page whose confirms have not all arrived after this long fails (and is published again). Default 30 000 ms. */
  readonly confirmTimeoutMs?: number;
  /** Default `'origin'`: every event of the log is published. */
  readonly startFrom?: StartFrom;
  /**
   * Consumers expected to handle every event of this context. They are listed in delivery status
   * (and their unhandled events flagged) even before their first acknowledgement.
   */
  readonly expectedConsumers?: readonly string[];
  /** Collect consumers' delivery acknowledgements from the transport's `acks` channel. Default `true`. */
  readonly collectAcknowledgements?: boolean;
}

/** What `herald.relay()` returns: the relay's health in this process. */
export interface RelayHandle {
  readonly name: string;
  /** Healthy while publishing works; unhealthy (with the broker's error) while it retries with backoff. */
  health(): SubscriptionHealth;
}

/**
 * The relay as a pipelined subscription: each page of the log is encoded as CloudEvents and
 * published with every message in flight; the page's checkpoint moves only once the broker
 * confirmed all of it, so an event counts as dispatched only after its confirm. Pages are
 * published in log order on one transport, so each stream enters the broker in version order.
 * A crash or a broker failure publishes the unconfirmed pages again (at most one window of
 * duplicates, which the consumer's inbox absorbs).
 */
export function relaySubscription(context: string, options: RelayOptions, log?: { pool: pg.Pool; schema: string }): SubscriptionDefinition {
  const { transport } = options;
  if (!transport || typeof transport.publish !== 'function') throw new ConfigError('relay: `transport` must be a Herald transport');
  const window = options.window ?? 1000;
  if (!Number.isSafeInteger(window) || window < 1 || window > 100_000) throw new ConfigError(`relay: window must be a whole number from 1 to 100000, got ${window}`);
  const pages = options.pages ?? 4;
  if (!Number.isSafeInteger(pages) || pages < 1 || pages > window) throw new ConfigError(`relay: pages must be a whole number from 1 to the window (${window}), got ${pages}`);
  const confirmTimeoutMs = options.confirmTimeoutMs ?? 30_000;
  if (!(confirmTimeoutMs > 0)) throw new ConfigError(`relay: confirmTimeoutMs must be positive, got ${confirmTimeoutMs}`);
  const publish = (messages: readonly OutgoingMessage[]) => confirmedWithin(transport.publish('events', messages), confirmTimeoutMs, transport.kind);
  // With the log at hand, PostgreSQL writes the CloudEvents text itself: the relay then never
  // parses payloads in Node, which is most of its CPU. Without it, events are read and encoded here.
  const pipeline: PipelineDefinition<readonly OutgoingMessage[]> | PipelineDefinition<readonly RecordedEvent[]> = log
    ? { depth: pages, read: (after, limit) => readMessages(log.pool, log.schema, context, after, limit), handle: publish }
    : { depth: pages, handle: (events: readonly RecordedEvent[]) => publish(events.map((event) => toMessage(context, event))) };
  return {
    name: options.name ?? `relay:${transport.kind}`,
    startFrom: options.startFrom ?? 'origin',
    batchSize: Math.ceil(window / pages),
    pipeline,
    handle() {
      throw new Error('the relay handles whole pages (pipeline)');
    },
  };
}

function toMessage(context: string, event: RecordedEvent): OutgoingMessage {
  return { id: event.metadata.eventId, source: context, type: event.type, key: event.metadata.streamId, body: encodeCloudEvent(context, event) };
}

function confirmedWithin(publishing: Promise<void>, ms: number, kind: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TransportError(kind, `no confirm for a page within ${ms} ms`)), ms);
  });
  return Promise.race([publishing, timeout]).finally(() => clearTimeout(timer));
}
