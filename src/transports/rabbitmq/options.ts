import { TransportError } from '../../errors.js';
import type { Logger } from '../../runtime/logger.js';
import { positiveOption } from '../support.js';
import type { Channel, OutgoingMessage } from '../transport.js';

/** The transport's kind, in errors and logs. */
export const KIND = 'rabbitmq';

/** Options of {@link rabbitmq}. Every function option must return the same value for the same input in every process. */
export interface RabbitMqOptions {
  /**
   * AMQP URL. Default `'amqp://guest:guest@127.0.0.1:5672'`. Connection tuning goes into the query
   * string, e.g. `?heartbeat=10` (the server's proposal, usually 60 s, when absent).
   */
  readonly url?: string;
  /** Exchange of a context's channel. Default `herald.<source>` for events, `herald.<source>.acks` for acks. */
  readonly exchange?: (source: string, channel: Channel) => string;
  /** Routing key of a message. Default: the event type. */
  readonly routingKey?: (message: OutgoingMessage, channel: Channel) => string;
  /** Queue of a consumer group. Default `herald.<source>.<group>` for events, `herald.<source>.acks.<group>` for acks. */
  readonly queue?: (source: string, group: string, channel: Channel) => string;
  /** Binding keys of a group's queue on the exchange. Default `['#']` (every routing key). */
  readonly bindingKeys?: readonly string[];
  /**
   * Declares queues with `x-single-active-consumer`, so one process of a group receives at a time
   * and a standby takes over when it goes away: the queue's order is kept. Default `true`.
   * Changing it for an existing queue fails with PRECONDITION_FAILED: delete the queue first.
   */
  readonly singleActiveConsumer?: boolean;
  /** Extra queue arguments, e.g. `{ 'x-queue-type': 'quorum' }`. Must match existing queues. */
  readonly queueArguments?: Readonly<Record<string, unknown>>;
  /**
   * Groups whose queues the publisher declares and binds before its first publish to a context's
   * channel, so their messages are kept even before the group first consumed. Default: none.
   */
  readonly declareGroups?: (source: string, channel: Channel) => readonly string[];
  /** TCP connect timeout. Default 5000 ms. */
  readonly connectTimeoutMs?: number;
  /**
   * How long `publish()` waits for the broker's confirms (including time spent blocked by a
   * broker resource alarm) before it rejects. Default 30 000 ms.
   */
  readonly confirmTimeoutMs?: number;
  /** Consumer reconnect backoff: first delay and cap, doubling in between. Default 100 ms to 5000 ms. */
  readonly reconnectMs?: { readonly initial?: number; readonly max?: number };
  /** Where connection problems are reported. Default: nowhere. */
  readonly logger?: Logger;
}

/** The options with every default applied. */
export interface Settings {
  readonly url: string;
  readonly exchange: (source: string, channel: Channel) => string;
  readonly routingKey: (message: OutgoingMessage, channel: Channel) => string;
  readonly queue: (source: string, group: string, channel: Channel) => string;
  readonly bindingKeys: readonly string[];
  readonly queueArguments: Record<string, unknown>;
  readonly declareGroups: (source: string, channel: Channel) => readonly string[];
  readonly connectTimeoutMs: number;
  readonly confirmTimeoutMs: number;
  readonly reconnectInitialMs: number;
  readonly reconnectMaxMs: number;
  readonly logger: Logger | undefined;
}

/** Applies the defaults; a `TransportError` for an invalid option. */
export function resolve(options: RabbitMqOptions): Settings {
  const singleActive = options.singleActiveConsumer ?? true;
  return {
    url: options.url ?? 'amqp://guest:guest@127.0.0.1:5672',
    exchange: options.exchange ?? ((source, channel) => (channel === 'events' ? `herald.${source}` : `herald.${source}.acks`)),
    routingKey: options.routingKey ?? ((m) => m.type),
    queue:
      options.queue ?? ((source, group, channel) => (channel === 'events' ? `herald.${source}.${group}` : `herald.${source}.acks.${group}`)),
    bindingKeys: options.bindingKeys ?? ['#'],
    queueArguments: { ...(singleActive ? { 'x-single-active-consumer': true } : {}), ...options.queueArguments },
    declareGroups: options.declareGroups ?? (() => []),
    connectTimeoutMs: positiveOption(KIND, options.connectTimeoutMs, 5000, 'connectTimeoutMs'),
    confirmTimeoutMs: positiveOption(KIND, options.confirmTimeoutMs, 30_000, 'confirmTimeoutMs'),
    reconnectInitialMs: positiveOption(KIND, options.reconnectMs?.initial, 100, 'reconnectMs.initial'),
    reconnectMaxMs: positiveOption(KIND, options.reconnectMs?.max, 5000, 'reconnectMs.max'),
    logger: options.logger,
  };
}

/** AMQP's prefetch count is a 16-bit number. */
export function checkPrefetch(prefetch: number): void {
  if (!Number.isInteger(prefetch) || prefetch < 1 || prefetch > 65_535) {
    throw new TransportError(KIND, `prefetch must be an integer from 1 to 65535, got ${prefetch}`);
  }
}
