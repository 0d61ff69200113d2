import type pg from 'pg';
import { ConfigError } from '../errors.js';
import type { EventDefinition } from '../events/define.js';
import type { StandardSchemaV1 } from '../events/standard-schema.js';
import type { ALREADY_SEEN } from '../handlers/failure.js';
import { defaultErrorPolicy, type ErrorPolicy, type RetryOptions } from '../handlers/policy.js';
import { validateSubscriptionName } from '../sql/identifiers.js';
import type { ReceivedEvent, ReceivedMetadata } from '../transports/cloudevents.js';
import type { Transport } from '../transports/transport.js';
import type { OrderingRules } from './arrival.js';
import { TypeRouter, type TypePattern } from './routing.js';

/** What a consumer's handler gets besides the event. */
export interface ConsumerHandlerContext {
  /** The transaction that also records the message in the inbox and moves the stream's position. Do not COMMIT or ROLLBACK it. */
  readonly tx: pg.PoolClient;
  readonly consumer: string;
  /**
   * Aborted when the handler outlives `handlerTimeoutMs`: its transaction is rolled back and its
   * connection closed, so stop any other work (HTTP calls, timers) when it fires.
   */
  readonly signal: AbortSignal;
}

/**
 * Handles one received event of one type. Return nothing when handled, or `ALREADY_SEEN` when its
 * effect was already there; throwing (or rejecting, or returning anything else) fails it and its
 * writes roll back.
 */
// Method syntax: parameters are checked bivariantly, so a handler typed for one event type fits.
export type MessageHandler<Event extends ReceivedEvent = ReceivedEvent> = {
  handle(event: Event, metadata: ReceivedMetadata, context: ConsumerHandlerContext): void | typeof ALREADY_SEEN | Promise<void | typeof ALREADY_SEEN>;
}['handle'];

/**
 * Handlers by event type. With `events`, handlers exist for those types and each event is typed
 * by its schema's output; without, any type, with `data: unknown`.
 */
export type ConsumerHandlers<Events extends readonly EventDefinition[]> = {
  readonly [K in Events[number]['type']]?: MessageHandler<ReceivedEvent<K, DataOf<Events, K>>>;
};

/** The payload type of event type `K`: its schema's output when `events` defines it, else unknown. */
type DataOf<Events extends readonly EventDefinition[], K> = [Extract<Events[number], { type: K }>] extends [never]
  ? unknown
  : StandardSchemaV1.InferOutput<Extract<Events[number], { type: K }>['schema']>;

/** The receiving side of a relay, in a context with its own database. */
export interface ConsumerDefinition<Events extends readonly EventDefinition[] = readonly EventDefinition[]> {
  /** The broker adapter the sender's relay publishes to. */
  readonly transport: Transport;
  /** Durable consumer name: the broker group/queue, the inbox's consumer, and the name the sender sees in delivery status. */
  readonly name: string;
  /** The sending context whose events are consumed. */
  readonly source: string;
  /** A handler per event type. */
  readonly handlers: ConsumerHandlers<Events>;
  /** Definitions whose schemas validate received payloads of their type (and type the handlers); an invalid payload is parked. */
  readonly events?: Events;
  /** Types acknowledged on purpose without a handler: names, `*` patterns (`'Audit*'`) or regular expressions. */
  readonly ignore?: readonly TypePattern[];
  /**
   * A type with no handler that `ignore` does not match. `'ignore'` (default, like Commanded's
   * catch-all): acknowledged, counted and listed in status. `'park'`: parked, holding back its
   * stream until a deploy adds the handler and an operator retries it.
   */
  readonly unknownTypes?: 'ignore' | 'park';
  /** Error policy, as for subscriptions. Default: {@link defaultErrorPolicy} with `retry`. */
  readonly onError?: ErrorPolicy;
  readonly retry?: RetryOptions;
  /**
   * `'stream'` (default): each stream is handled in version order; a message ahead of the next
   * version is held until the missing one arrives, and parked after `reorderWaitMs`. `'none'`:
   * handled as they come, deduplicated by the inbox only.
   */
  readonly ordering?: 'stream' | 'none';
  /**
   * Where a stream this consumer has never seen starts. `'origin'` (default): at version 1, so a
   * later first arrival is held for the missing ones. `'arrival'`: at whatever version arrives
   * first — for a consumer that joins a running system and receives only what is published from
   * then on (a new RabbitMQ queue, say).
   */
  readonly startFrom?: 'origin' | 'arrival';
  /** How long a message ahead of a missing version is held before it is parked. Default 30 000 ms. */
  readonly reorderWaitMs?: number;
  /** Unsettled messages taken from the broker at once. Default 100. */
  readonly prefetch?: number;
  /** Transactions run at once by retries, operator requests and held-message replays. Default 8. */
  readonly concurrency?: number;
  /** Most messages handled in one transaction (one commit). Default 100. */
  readonly batchSize?: number;
  /** A handler that has not settled after this long fails with `HandlerTimeoutError`. Default 30 000 ms. */
  readonly handlerTimeoutMs?: number;
  /** Receipts are sent back to the sender this often. Default 1000 ms. */
  readonly acknowledgeEveryMs?: number;
  /** Due retries, operator requests and held messages are looked for this often (and at once when notified). Default 1000 ms. */
  readonly sweepEveryMs?: number;
}

/** A consumer's definition, checked, with every default filled in. */
export interface ConsumerSettings extends OrderingRules {
  readonly name: string;
  readonly source: string;
  readonly transport: Transport;
  readonly handlers: Readonly<Record<string, MessageHandler>>;
  readonly schemas: ReadonlyMap<string, EventDefinition>;
  readonly router: TypeRouter;
  readonly unknownTypes: 'ignore' | 'park';
  readonly policy: ErrorPolicy;
  readonly reorderWaitMs: number;
  readonly prefetch: number;
  readonly concurrency: number;
  readonly batchSize: number;
  readonly handlerTimeoutMs: number;
  readonly acknowledgeEveryMs: number;
  readonly sweepEveryMs: number;
}

/** Checks a consumer definition; a bad one throws `ConfigError` naming the consumer and the field. */
export function consumerSettings(definition: ConsumerDefinition): ConsumerSettings {
  const name = validateSubscriptionName(definition?.name);
  const fail = (message: string): never => {
    throw new ConfigError(`consumer '${name}': ${message}`);
  };
  if (!definition.transport || typeof definition.transport.consume !== 'function') fail('transport must be a Herald transport');
  if (typeof definition.source !== 'string' || !/^[a-z_][a-z0-9_]{0,62}$/.test(definition.source)) {
    fail(`source must be the sending context's name, got ${JSON.stringify(definition.source)}`);
  }
  if (!definition.handlers || typeof definition.handlers !== 'object') fail('handlers must map event types to functions');
  const handlers = definition.handlers as Record<string, MessageHandler>;
  for (const [type, handler] of Object.entries(handlers)) if (typeof handler !== 'function') fail(`handler for '${type}' is not a function`);
  const oneOf = <T extends string>(field: string, value: T | undefined, allowed: readonly T[]): T => {
    if (value === undefined) return allowed[0]!;
    if (!allowed.includes(value)) fail(`${field} must be ${allowed.map((a) => `'${a}'`).join(' or ')}, got ${JSON.stringify(value)}`);
    return value;
  };
  const positive = (field: keyof ConsumerDefinition, fallback: number): number => {
    const value = definition[field];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) fail(`${field} must be a positive number, got ${JSON.stringify(value)}`);
    return value as number;
  };
  if (definition.onError !== undefined && typeof definition.onError !== 'function') fail('onError must be a function');
  let router: TypeRouter;
  try {
    router = new TypeRouter(Object.keys(handlers), definition.ignore ?? []);
  } catch (error) {
    return fail((error as Error).message);
  }
  return {
    name,
    source: definition.source,
    transport: definition.transport,
    handlers,
    schemas: new Map((definition.events ?? []).map((event) => [event.type, event])),
    router,
    unknownTypes: oneOf('unknownTypes', definition.unknownTypes, ['ignore', 'park']),
    policy: definition.onError ?? defaultErrorPolicy(definition.retry),
    ordering: oneOf('ordering', definition.ordering, ['stream', 'none']),
    startFrom: oneOf('startFrom', definition.startFrom, ['origin', 'arrival']),
    reorderWaitMs: positive('reorderWaitMs', 30_000),
    prefetch: positive('prefetch', 100),
    concurrency: positive('concurrency', 8),
    batchSize: positive('batchSize', 100),
    handlerTimeoutMs: positive('handlerTimeoutMs', 30_000),
    acknowledgeEveryMs: positive('acknowledgeEveryMs', 1000),
    sweepEveryMs: positive('sweepEveryMs', 1000),
  };
}

/** A consumer's figures: in this process (counters) and stored (held, parked). */
export interface ConsumerStatus {
  readonly name: string;
  readonly source: string;
  readonly running: boolean;
  /** False while the database or the broker fails (it retries by itself), or after a `stop` policy. */
  readonly healthy: boolean;
  readonly lastError: string | null;
  /** Set when the error policy stopped this consumer: why. */
  readonly stoppedBy: string | null;
  /** Since this process started: handled, `ALREADY_SEEN`, duplicates dropped, held for order, failed attempts, parked. */
  readonly handled: number;
  readonly alreadySeen: number;
  readonly duplicates: number;
  readonly heldCount: number;
  readonly failedAttempts: number;
  readonly parkedCount: number;
  /** Since this process started: messages of types with no handler that were acknowledged, by type. */
  readonly ignoredUnknown: Readonly<Record<string, number>>;
  /** Stored now: messages held for order, waiting for a retry, and parked for review (all processes). */
  readonly held: number;
  readonly scheduled: number;
  readonly parked: number;
  /** Receipts not sent back to the sender yet. */
  readonly unsentReceipts: number;
}
