/**
 * The contract between Herald and a message broker. A transport moves opaque bodies (CloudEvents
 * JSON, encoded by Herald) and knows nothing about logs, inboxes or ordering; Herald's relay and
 * consumer build exactly-once effect on top of it.
 *
 * Two channels per sending context: `events` (the context's events, to every consumer group)
 * and `acks` (delivery receipts from consumers back to the sender, one group: the sender).
 */
export type Channel = 'events' | 'acks';

/** One message to publish. */
export interface OutgoingMessage {
  /** Unique message id: the event id. Brokers that dedupe use it (JetStream `Nats-Msg-Id`). */
  readonly id: string;
  /** The sending context (the log the event comes from), e.g. `'orders'`. Routing input. */
  readonly source: string;
  /** The event type, e.g. `'OrderPlaced'`. Routing input. */
  readonly type: string;
  /** Per-stream order key: the stream id. Transports that partition must keep one key on one partition. */
  readonly key: string;
  /** The encoded message (CloudEvents structured JSON). */
  readonly body: Buffer;
}

/** One message received. Settle it exactly once: `ack()` after the effect committed, or `nack()`. */
export interface Delivery {
  readonly body: Buffer;
  /** The broker's id for this delivery (AMQP message id or tag, JetStream sequence, Redis entry id): for logs and parking. */
  readonly brokerId: string;
  /** The broker says it delivered this message before (may be false for a redelivery on some brokers). */
  readonly redelivered: boolean;
  /** Confirms the message is done; the broker will not deliver it again. */
  ack(): Promise<void>;
  /** Gives the message back unprocessed, for a later redelivery. */
  nack(): Promise<void>;
}

/** Where and how a consumer group reads. */
export interface ConsumeOptions {
  readonly channel: Channel;
  /** The sending context whose messages are read. */
  readonly source: string;
  /** Durable group name: the consumer's name. Processes using the same name share one position. */
  readonly group: string;
  /** Most deliveries not yet settled at any time. */
  readonly prefetch: number;
}

/** A running consumption; reconnects by itself until closed. */
export interface Consumption {
  /** Stops receiving. Unsettled deliveries are left to the broker's redelivery. */
  close(): Promise<void>;
}

/** What a transport reports about its connection, for health in `status()`. */
export interface TransportHealth {
  readonly connected: boolean;
  readonly lastError: string | null;
}

/** A broker adapter. Create one with `rabbitmq()`, `nats()` or `redis()` from `herald/transports/*`. */
export interface Transport {
  /** `'rabbitmq'`, `'nats'` or `'redis'`. */
  readonly kind: string;
  /**
   * The most pages a relay may have in flight on this transport at once (default: the relay's
   * `pages`). A transport whose messages take effect in the order their publishes complete (the
   * log transport of `intoLog()`) says 1.
   */
  readonly pagesInFlight?: number;
  /**
   * Sends every message, many in flight at once, and resolves when the broker confirmed all of
   * them (persisted, as far as the broker is configured to persist). Rejects with a
   * `TransportError` if any was not confirmed; the caller publishes the whole batch again
   * (duplicates are removed by the consumer's inbox). Connects, or reconnects, on demand.
   */
  publish(channel: Channel, messages: readonly OutgoingMessage[]): Promise<void>;
  /**
   * Delivers messages to `onDelivery`, at most `prefetch` unsettled at once, in the broker's
   * order. Reconnects by itself after the broker or the network went away.
   */
  consume(options: ConsumeOptions, onDelivery: (delivery: Delivery) => void): Promise<Consumption>;
  health(): TransportHealth;
  /** Closes connections; pending publishes reject. */
  close(): Promise<void>;
}
