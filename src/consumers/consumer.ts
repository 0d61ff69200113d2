import { createHash } from 'node:crypto';
import { checkout } from '../sql/executor.js';
import type pg from 'pg';
import { ConfigError, describe, HandlerTimeoutError, HeraldError, MalformedMessageError } from '../errors.js';
import { validatePayload, type EventDefinition } from '../events/define.js';
import type { StandardSchemaV1 } from '../events/standard-schema.js';
import {
  defaultErrorPolicy,
  type ErrorAction,
  type ErrorPolicy,
  type FailureContext,
  fingerprint,
  type RetryOptions,
  summarizeError,
} from '../handlers/policy.js';
import type { Logger } from '../runtime/logger.js';
import { validateSubscriptionName } from '../sql/identifiers.js';
import { ACK_TYPE, encodeAcknowledgement, toRanges } from '../deliveries/acknowledgement.js';
import { decodeCloudEvent, type ReceivedEvent, type ReceivedMetadata } from '../transports/cloudevents.js';
import type { Consumption, Delivery, Transport } from '../transports/transport.js';
import { type ConsumerMessageRow, type ConsumerMessageStatus, ConsumerStore, type StoredMessage, type StreamState } from './store.js';

/** What a consumer's handler gets besides the event. */
export interface ConsumerHandlerContext {
  /** The transaction that also records the message in the inbox and moves the stream's position. Do not COMMIT or ROLLBACK it. */
  readonly tx: pg.PoolClient;
  readonly consumer: string;
}

/** Handles one received event of one type. Throwing (or rejecting) fails it; its writes roll back. */
// Method syntax: parameters are checked bivariantly, so a handler typed for one event type fits.
export type MessageHandler<Event extends ReceivedEvent = ReceivedEvent> = {
  handle(event: Event, metadata: ReceivedMetadata, context: ConsumerHandlerContext): void | Promise<void>;
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
  /** A handler per event type. A type with no handler (and not in `ignore`) is parked as unknown. */
  readonly handlers: ConsumerHandlers<Events>;
  /** Definitions whose schemas validate received payloads of their type (and type the handlers); an invalid payload is parked. */
  readonly events?: Events;
  /** Types acknowledged without a handler (the stream's position moves past them). */
  readonly ignore?: readonly string[];
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
  /** Transactions run at once by operator actions and held-message replays. Default 8. */
  readonly concurrency?: number;
  /** Most messages handled in one transaction (one commit). Default 100. */
  readonly batchSize?: number;
  /** A handler that has not settled after this long fails with `HandlerTimeoutError`. Default 30 000 ms. */
  readonly handlerTimeoutMs?: number;
  /** Receipts are sent back to the sender this often. Default 1000 ms. */
  readonly acknowledgeEveryMs?: number;
}

/** A consumer's figures: in this process (counters) and stored (held, parked). */
export interface ConsumerStatus {
  readonly name: string;
  readonly source: string;
  readonly running: boolean;
  /** False while the database or the broker fails; it retries by itself. */
  readonly healthy: boolean;
  readonly lastError: string | null;
  /** Since this process started: handled, duplicates dropped, held for order, parked. */
  readonly handled: number;
  readonly duplicates: number;
  readonly heldCount: number;
  readonly parkedCount: number;
  /** Stored now: messages held for order, and parked for review. */
  readonly held: number;
  readonly parked: number;
  /** Receipts not sent back to the sender yet. */
  readonly unsentReceipts: number;
}

/** What a consumer reports as it runs (Herald turns these into its events). */
export interface ConsumerHooks {
  duplicateDropped(info: { consumer: string; eventId: string; eventNumber: number }): void;
  messageParked(info: { consumer: string; key: string; reason: string }): void;
}

/** What happened to a message. */
type Outcome = 'handled' | 'duplicate' | 'held' | 'parked' | 'skipped';

/** The handler threw: its transaction was rolled back. */
class HandlerFailed extends Error {
  constructor(readonly error: unknown) {
    super('handler failed');
  }
}

/** An operator action on a consumer message that is not parked. */
export class ConsumerMessageNotParkedError extends HeraldError {
  constructor(
    readonly consumer: string,
    readonly key: string,
    readonly status: string | undefined,
  ) {
    super('HERALD_NOT_PARKED', `Message '${key}' of consumer '${consumer}' ${status === undefined ? 'does not exist' : `is ${status}, not parked`}`);
  }
}

/** A delivery waiting for its batch. */
interface Pending {
  readonly delivery: Delivery;
  readonly event: ReceivedEvent;
  readonly source: Source;
}

/** Where a message being handled came from. */
interface Source {
  readonly key: string;
  readonly body: Buffer;
  readonly brokerId: string | null;
  /** A stored row (held or parked) it came from. */
  readonly stored?: StoredMessage;
  /** An operator retry: handle it now even if earlier versions are missing. */
  readonly forced?: boolean;
}

/**
 * Consumes a sending context's events from a broker into this context's database, with
 * exactly-once effect: each message is handled in one transaction that also records it in the
 * inbox, moves its stream's position and writes a receipt for the sender; the broker ack comes
 * after the commit. See {@link ConsumerDefinition} for ordering, parking and policies.
 */
export class Consumer {
  readonly name: string;
  readonly source: string;
  private readonly store: ConsumerStore;
  private readonly registry = new Map<string, EventDefinition>();
  private readonly ignored: ReadonlySet<string>;
  private readonly policy: ErrorPolicy;
  private readonly ordering: 'stream' | 'none';
  private readonly reorderWaitMs: number;
  private readonly prefetch: number;
  private readonly concurrency: number;
  private readonly timeoutMs: number;
  private readonly acknowledgeEveryMs: number;
  private consumption: Consumption | undefined;
  private running = false;
  private readonly chains = new Map<string, Promise<void>>();
  private readonly buffer: Pending[] = [];
  private dispatching = false;
  /** Held messages exist (or may): after handling a stream, look for its next held version. */
  private heldSeen = false;
  private readonly batchSize: number;
  private readonly startFrom: 'origin' | 'arrival';
  private active = 0;
  private readonly queue: (() => void)[] = [];
  private timers: NodeJS.Timeout[] = [];
  private sweeping: Promise<void> | undefined;
  private acknowledging: Promise<void> | undefined;
  private readonly pending = new Set<Promise<unknown>>();
  private health = { healthy: true, lastError: null as string | null };
  private readonly counters = { handled: 0, duplicates: 0, held: 0, parked: 0 };

  constructor(
    private readonly pool: pg.Pool,
    schema: string,
    private readonly logger: Logger,
    private readonly definition: ConsumerDefinition,
    private readonly hooks?: ConsumerHooks,
  ) {
    this.name = validateSubscriptionName(definition?.name);
    if (!definition.transport || typeof definition.transport.consume !== 'function') throw new ConfigError(`consumer '${this.name}': transport must be a Herald transport`);
    if (typeof definition.source !== 'string' || !/^[a-z_][a-z0-9_]{0,62}$/.test(definition.source)) {
      throw new ConfigError(`consumer '${this.name}': source must be the sending context's name, got ${JSON.stringify(definition.source)}`);
    }
    this.source = definition.source;
    if (!definition.handlers || typeof definition.handlers !== 'object') throw new ConfigError(`consumer '${this.name}': handlers must map event types to functions`);
    for (const [type, handler] of Object.entries(definition.handlers)) {
      if (typeof handler !== 'function') throw new ConfigError(`consumer '${this.name}': handler for '${type}' is not a function`);
    }
    for (const event of definition.events ?? []) this.registry.set(event.type, event);
    this.ignored = new Set(definition.ignore ?? []);
    this.policy = definition.onError ?? defaultErrorPolicy(definition.retry);
    this.ordering = definition.ordering ?? 'stream';
    if (this.ordering !== 'stream' && this.ordering !== 'none') throw new ConfigError(`consumer '${this.name}': ordering must be 'stream' or 'none'`);
    this.startFrom = definition.startFrom ?? 'origin';
    if (this.startFrom !== 'origin' && this.startFrom !== 'arrival') throw new ConfigError(`consumer '${this.name}': startFrom must be 'origin' or 'arrival'`);
    this.reorderWaitMs = positive(this.name, 'reorderWaitMs', definition.reorderWaitMs, 30_000);
    this.prefetch = positive(this.name, 'prefetch', definition.prefetch, 100);
    this.batchSize = positive(this.name, 'batchSize', definition.batchSize, 100);
    this.concurrency = positive(this.name, 'concurrency', definition.concurrency, 8);
    this.timeoutMs = positive(this.name, 'handlerTimeoutMs', definition.handlerTimeoutMs, 30_000);
    this.acknowledgeEveryMs = positive(this.name, 'acknowledgeEveryMs', definition.acknowledgeEveryMs, 1000);
    this.store = new ConsumerStore(schema, this.name, this.source);
  }

  /** Starts receiving. Resolves once the broker consumption is set up. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    // The first attempt is awaited (so the broker-side group exists when start resolves); if the
    // broker is unreachable, the consumer reports itself unhealthy and keeps trying in the background.
    if (!(await this.subscribe())) this.track(this.keepSubscribing());
    const sweepMs = Math.max(50, Math.min(1000, this.reorderWaitMs / 2));
    this.timers = [
      setInterval(() => void this.sweep(), sweepMs),
      setInterval(() => void this.acknowledge(), this.acknowledgeEveryMs),
    ];
    for (const timer of this.timers) timer.unref();
    void this.sweep();
  }

  private async subscribe(): Promise<boolean> {
    try {
      const consumption = await this.definition.transport.consume(
        { channel: 'events', source: this.source, group: this.name, prefetch: this.prefetch },
        (delivery) => this.receive(delivery),
      );
      if (this.running) this.consumption = consumption;
      else await consumption.close();
      this.recovered();
      return true;
    } catch (error) {
      this.unhealthy(error);
      return false;
    }
  }

  private async keepSubscribing(): Promise<void> {
    for (let backoff = 100; this.running; backoff = Math.min(backoff * 2, 5000)) {
      await delay(backoff);
      if (this.running && (await this.subscribe())) return;
    }
  }

  /** Stops receiving, lets the messages in hand finish, and sends the last receipts. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const timer of this.timers) clearInterval(timer);
    // Settle what is in hand before closing: on RabbitMQ, acks sent after the close are lost.
    // Deliveries arriving meanwhile are given back (nack) by the dispatcher.
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    await this.consumption?.close();
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    await this.sweeping;
    await this.acknowledging;
    await this.acknowledge();
  }

  async status(): Promise<ConsumerStatus> {
    const counts = await this.store.counts(this.pool);
    const transport = this.definition.transport.health();
    return {
      name: this.name,
      source: this.source,
      running: this.running,
      healthy: this.health.healthy && transport.connected,
      lastError: this.health.lastError ?? transport.lastError,
      handled: this.counters.handled,
      duplicates: this.counters.duplicates,
      heldCount: this.counters.held,
      parkedCount: this.counters.parked,
      held: counts.held,
      parked: counts.parked,
      unsentReceipts: counts.receipts,
    };
  }

  /** Operator API for this consumer's stored messages (parked and held). */
  readonly messages = {
    /** Stored messages, newest first; filter by status. */
    list: (options: { status?: ConsumerMessageStatus; limit?: number } = {}): Promise<ConsumerMessageRow[]> =>
      this.store.list(this.pool, options.status, options.limit ?? 100),
    /**
     * Handles a parked message now, in this process. A message parked because an earlier version
     * never arrived is handled accepting the gap. Resolves to `'retried'`, or `'parked'` (with the
     * new reason) when it failed again.
     */
    retry: (key: string): Promise<{ status: 'retried' | 'parked'; reason?: string }> => this.operatorRetry(key),
    /** Gives up on a parked message: its stream moves past it (it counts as acknowledged to the sender). */
    skip: (key: string, reason = 'skipped by operator'): Promise<void> => this.operatorSkip(key, reason),
  };

  // ---------------------------------------------------------------- receiving

  private receive(delivery: Delivery): void {
    let event: ReceivedEvent;
    try {
      event = decodeCloudEvent(delivery.body);
      if (event.metadata.source !== this.source) throw new MalformedMessageError(`sent by context '${event.metadata.source}', this consumer reads '${this.source}'`, event.type);
    } catch (error) {
      this.track(this.parkMalformed(delivery, error));
      return;
    }
    this.buffer.push({ delivery, event, source: { key: event.metadata.eventId, body: delivery.body, brokerId: delivery.brokerId } });
    this.dispatch();
  }

  /** Hands buffered deliveries to {@link runBatch}, one batch at a time, while any are waiting. */
  private dispatch(): void {
    if (this.dispatching || this.buffer.length === 0) return;
    this.dispatching = true;
    this.track(
      (async () => {
        try {
          while (this.buffer.length > 0) {
            const batch = this.buffer.splice(0, this.batchSize);
            if (!this.running) await Promise.all(batch.map((item) => item.delivery.nack()));
            else await this.runBatch(batch);
          }
        } finally {
          this.dispatching = false;
        }
      })(),
    );
  }

  /**
   * Handles a batch of deliveries in one transaction (one commit for many messages), each under
   * its stream's row lock, in arrival order; acks them after the commit. If anything fails, the
   * batch rolls back and each message is handled on its own, with the error policy.
   */
  private async runBatch(batch: readonly Pending[]): Promise<void> {
    const checks = await Promise.all(batch.map((item) => this.check(item.event)));
    let outcomes: Outcome[] | undefined;
    try {
      outcomes = await this.inTransaction((tx) => this.attemptBatch(tx, batch, checks));
      this.recovered();
    } catch {
      outcomes = undefined; // handled one by one below, where failures meet the policy
    }
    if (outcomes) {
      for (let i = 0; i < batch.length; i++) this.report(batch[i]!, outcomes[i]!, checks[i]);
      await Promise.all(batch.map((item) => item.delivery.ack()));
      if (this.heldSeen) {
        const moved = new Set(batch.filter((_, i) => outcomes![i] === 'handled').map((item) => item.event.metadata.streamId));
        for (const streamId of moved) this.track(this.onStream(streamId, () => this.drainHeld(streamId)));
      }
      return;
    }
    // One by one, each in line with its own stream and off the dispatch loop: a message waiting
    // for a retry holds back only its stream (later versions arriving meanwhile are held in the
    // database, then replayed in order).
    for (const item of batch) {
      const streamId = item.event.metadata.streamId;
      this.track(
        this.onStream(streamId, async () => {
          const outcome = await this.process(item.event, item.source);
          if (outcome === undefined) await item.delivery.nack();
          else await item.delivery.ack();
          if ((outcome === 'handled' || outcome === 'skipped') && this.heldSeen) await this.drainHeld(streamId);
        }),
      );
    }
  }

  private report(item: Pending, outcome: Outcome, invalid: string | undefined): void {
    this.count(outcome);
    if (outcome === 'duplicate') this.hooks?.duplicateDropped({ consumer: this.name, eventId: item.event.metadata.eventId, eventNumber: item.event.metadata.eventNumber });
    if (outcome === 'parked') this.hooks?.messageParked({ consumer: this.name, key: item.source.key, reason: invalid ?? 'parked' });
  }

  /** Runs `work` after the earlier work of the same stream, with at most `concurrency` at once. */
  private onStream(streamId: string, work: () => Promise<void>): Promise<void> {
    const previous = this.chains.get(streamId) ?? Promise.resolve();
    const next = previous.then(() => this.limited(work));
    this.chains.set(streamId, next);
    void next.finally(() => {
      if (this.chains.get(streamId) === next) this.chains.delete(streamId);
    });
    return next;
  }

  private async limited(work: () => Promise<void>): Promise<void> {
    if (this.active >= this.concurrency) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.active++;
    try {
      await work();
    } catch (error) {
      this.logger.error({ err: error, consumer: this.name }, 'herald: consumer work failed');
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }

  private track(promise: Promise<unknown>): void {
    this.pending.add(promise);
    promise
      .catch((error) => {
        this.unhealthy(error);
        this.logger.error({ err: error, consumer: this.name }, 'herald: consumer work failed');
      })
      .finally(() => this.pending.delete(promise));
  }

  /**
   * Handles one event until it is handled, a duplicate, held, parked or skipped — applying the
   * error policy to handler failures and retrying database failures with backoff. Resolves to
   * `undefined` when the consumer stops first (the message goes back to the broker).
   */
  private async process(event: ReceivedEvent, source: Source): Promise<Outcome | undefined> {
    const invalid = await this.check(event);
    let failure: { attempt: number; firstFailedAt: Date; context: Record<string, unknown> } | undefined;
    let backoff = 100;
    while (this.running) {
      try {
        const outcome = await this.handleOnce(event, source, invalid);
        this.count(outcome);
        if (outcome === 'duplicate') this.hooks?.duplicateDropped({ consumer: this.name, eventId: event.metadata.eventId, eventNumber: event.metadata.eventNumber });
        if (outcome === 'parked') this.hooks?.messageParked({ consumer: this.name, key: source.key, reason: invalid ?? 'parked' });
        this.recovered();
        return outcome;
      } catch (error) {
        if (!(error instanceof HandlerFailed)) {
          this.unhealthy(error);
          await delay(backoff);
          backoff = Math.min(backoff * 2, 5000);
          continue;
        }
        const now = new Date();
        failure = {
          attempt: (failure?.attempt ?? 0) + 1,
          firstFailedAt: failure?.firstFailedAt ?? now,
          context: failure?.context ?? {},
        };
        const context: FailureContext = {
          attempt: failure.attempt,
          firstFailedAt: failure.firstFailedAt,
          lastFailedAt: now,
          eventAgeMs: now.getTime() - event.metadata.createdAt.getTime(),
          context: failure.context,
        };
        const action = await this.decide(error.error, event, context);
        this.logger.warn({ consumer: this.name, eventId: event.metadata.eventId, attempt: failure.attempt, action: action.action, err: error.error }, 'herald: consumer handler failed');
        if (action.action === 'retry') {
          failure.context = action.context ?? failure.context;
          if (action.delayMs > 0) await delay(action.delayMs);
          continue;
        }
        if (action.action === 'stop') {
          this.logger.error({ consumer: this.name, reason: action.reason }, 'herald: consumer stopped by its error policy');
          void this.stop();
          return undefined;
        }
        const summary = summarizeError(error.error);
        const outcome = await this.settleFailure(event, source, action, summary, failure.attempt);
        if (outcome) this.count(outcome);
        if (outcome === 'parked') this.hooks?.messageParked({ consumer: this.name, key: source.key, reason: action.action === 'park' ? (action.reason ?? summary.message) : summary.message });
        return outcome;
      }
    }
    return undefined;
  }

  private async decide(error: unknown, event: ReceivedEvent, failure: FailureContext): Promise<ErrorAction> {
    try {
      return await this.policy(error, event as never, failure);
    } catch (policyError) {
      return { action: 'park', reason: `the error policy threw: ${describe(policyError)}` };
    }
  }

  /** Why this event cannot be handled whatever happens (unknown type, invalid payload), or undefined. */
  private async check(event: ReceivedEvent): Promise<string | undefined> {
    if (this.ignored.has(event.type)) return undefined;
    if (!Object.hasOwn(this.definition.handlers, event.type)) return `unknown event type '${event.type}': no handler`;
    const definition = this.registry.get(event.type);
    if (!definition) return undefined;
    try {
      await validatePayload(event.type, definition.schema, event.data);
      return undefined;
    } catch (error) {
      return describe(error);
    }
  }

  /** One attempt, in one transaction under the stream's row lock. Throws {@link HandlerFailed}. */
  private handleOnce(event: ReceivedEvent, source: Source, invalid: string | undefined): Promise<Outcome> {
    return this.inTransaction((tx) => this.attemptIn(tx, event, source, invalid));
  }

  /** One attempt inside `tx`, under the stream's row lock: hold, park, drop a duplicate, or handle. */
  private async attemptIn(tx: pg.PoolClient, event: ReceivedEvent, source: Source, invalid: string | undefined): Promise<Outcome> {
    const m = event.metadata;
    {
      const stream = this.startingPoint(await this.store.lockStream(tx, m.streamId), m.streamVersion);
      const version = m.streamVersion;
      const fromParked = source.stored?.status === 'parked';
      if (this.ordering === 'stream') {
        if (version <= stream.version) {
          if (source.stored) await this.resolveStale(tx, source.stored);
          return 'duplicate';
        }
        if (!source.forced) {
          if (stream.parkedVersion === version && !fromParked) return 'duplicate'; // a redelivery of a parked message
          if (version > stream.version + 1 || (stream.parkedVersion !== null && stream.parkedVersion < version)) {
            if (!source.stored) await this.store.hold(tx, source.key, event, source.body, source.brokerId);
            return 'held';
          }
        }
      }
      if (invalid) {
        await this.store.park(tx, source.key, event, source.body, source.brokerId, { reason: invalid, attempts: 1 });
        this.logger.error({ consumer: this.name, eventId: m.eventId, reason: invalid }, 'herald: message parked');
        return 'parked';
      }
      if (!(await this.store.recordInInbox(tx, m.eventId))) {
        await this.store.finish(tx, event, this.resolution(source, 'already handled (inbox)'));
        return 'duplicate';
      }
      return this.handleInTx(tx, event, source);
    }
  }

  /**
   * {@link attemptIn} for a whole batch of fresh deliveries, with a constant number of statements:
   * lock every stream of the batch, decide each message in arrival order against the locked
   * versions, record the inbox ids at once, run the handlers, then move the versions and write
   * the receipts at once. Holding and parking are rare and take a statement each.
   */
  private async attemptBatch(tx: pg.PoolClient, batch: readonly Pending[], checks: readonly (string | undefined)[]): Promise<Outcome[]> {
    const streams = await this.store.lockStreams(tx, [...new Set(batch.map((item) => item.event.metadata.streamId))].sort());
    const outcomes: Outcome[] = new Array(batch.length);
    const toHandle: number[] = [];
    for (let i = 0; i < batch.length; i++) {
      const { event, source } = batch[i]!;
      const m = event.metadata;
      const stream = this.startingPoint(streams.get(m.streamId)!, m.streamVersion);
      if (this.ordering === 'stream') {
        if (m.streamVersion <= stream.version || stream.parkedVersion === m.streamVersion) {
          outcomes[i] = 'duplicate';
          continue;
        }
        if (m.streamVersion > stream.version + 1 || (stream.parkedVersion !== null && stream.parkedVersion < m.streamVersion)) {
          await this.store.hold(tx, source.key, event, source.body, source.brokerId);
          outcomes[i] = 'held';
          continue;
        }
      }
      const invalid = checks[i];
      if (invalid) {
        await this.store.park(tx, source.key, event, source.body, source.brokerId, { reason: invalid, attempts: 1 });
        this.logger.error({ consumer: this.name, eventId: m.eventId, reason: invalid }, 'herald: message parked');
        streams.set(m.streamId, { version: stream.version, parkedVersion: m.streamVersion });
        outcomes[i] = 'parked';
        continue;
      }
      streams.set(m.streamId, { version: Math.max(stream.version, m.streamVersion), parkedVersion: stream.parkedVersion });
      toHandle.push(i);
    }
    const recorded = await this.store.recordAllInInbox(tx, toHandle.map((i) => batch[i]!.event.metadata.eventId));
    const versions = new Map<string, number>();
    const numbers: number[] = [];
    for (const i of toHandle) {
      const { event } = batch[i]!;
      const m = event.metadata;
      if (recorded.delete(m.eventId)) {
        await this.invokeHandler(tx, event);
        outcomes[i] = 'handled';
      } else outcomes[i] = 'duplicate';
      versions.set(m.streamId, Math.max(versions.get(m.streamId) ?? 0, m.streamVersion));
      numbers.push(m.eventNumber);
    }
    if (numbers.length > 0) await this.store.finishAll(tx, versions, numbers);
    return outcomes;
  }

  /** With `startFrom: 'arrival'`, a stream never handled starts at the version that arrived. */
  private startingPoint(stream: StreamState, arrived: number): StreamState {
    if (this.startFrom === 'arrival' && stream.version === 0 && stream.parkedVersion === null) return { version: arrived - 1, parkedVersion: null };
    return stream;
  }

  /** A stored message whose version was handled meanwhile (a redelivery got there first). */
  private async resolveStale(tx: pg.PoolClient, stored: StoredMessage): Promise<void> {
    if (stored.status === 'held') await this.store.deleteHeld(tx, stored.key);
    else if (stored.status === 'parked') await this.store.resolve(tx, stored.key, 'skipped', 'already handled');
  }

  private async handleInTx(tx: pg.PoolClient, event: ReceivedEvent, source: Source): Promise<Outcome> {
    await this.invokeHandler(tx, event);
    await this.store.finish(tx, event, this.resolution(source));
    return 'handled';
  }

  /** Runs the event's handler (none for ignored types) with its timeout; throws {@link HandlerFailed}. */
  private async invokeHandler(tx: pg.PoolClient, event: ReceivedEvent): Promise<void> {
    const handler = this.definition.handlers[event.type];
    if (!handler) return;
    try {
      await withTimeout(handler(event, event.metadata, { tx, consumer: this.name }), this.timeoutMs, () => new HandlerTimeoutError(this.name, event.metadata.eventNumber, this.timeoutMs));
    } catch (error) {
      throw new HandlerFailed(error);
    }
  }

  private resolution(source: Source, reason?: string): { key: string; resolution: 'delete' | 'retried' | 'skipped'; reason?: string } | undefined {
    if (!source.stored) return undefined;
    if (source.stored.status === 'held') return { key: source.key, resolution: 'delete' };
    return { key: source.key, resolution: reason ? 'skipped' : 'retried', ...(reason ? { reason } : {}) };
  }

  /** After the policy said skip or park. */
  private async settleFailure(event: ReceivedEvent, source: Source, action: ErrorAction, error: ReturnType<typeof summarizeError>, attempts: number): Promise<Outcome | undefined> {
    for (let backoff = 100; this.running; backoff = Math.min(backoff * 2, 5000)) {
      try {
        return await this.inTransaction(async (tx) => {
          const stream = await this.store.lockStream(tx, event.metadata.streamId);
          if (event.metadata.streamVersion <= stream.version && this.ordering === 'stream') return 'duplicate';
          if (action.action === 'skip') {
            await this.store.recordInInbox(tx, event.metadata.eventId);
            if (source.stored) await this.store.park(tx, source.key, event, source.body, source.brokerId, { reason: action.reason, error, attempts });
            await this.store.finish(tx, event, source.stored ? { key: source.key, resolution: 'skipped', reason: action.reason } : undefined);
            return 'skipped';
          }
          const reason = (action.action === 'park' && action.reason) || `handler failed: ${error.message}`;
          await this.store.park(tx, source.key, event, source.body, source.brokerId, { reason, error, fingerprint: fingerprint(error, event.type), attempts });
          this.logger.error({ consumer: this.name, eventId: event.metadata.eventId, reason }, 'herald: message parked');
          return 'parked';
        });
      } catch (dbError) {
        this.unhealthy(dbError);
        await delay(backoff);
      }
    }
    return undefined;
  }

  private async parkMalformed(delivery: Delivery, error: unknown): Promise<void> {
    const reason = describe(error);
    // Broker ids are not unique everywhere (an AMQP delivery tag restarts per channel): add the body's hash.
    const key = `broker:${delivery.brokerId}:${createHash('sha256').update(delivery.body).digest('hex').slice(0, 16)}`;
    for (let backoff = 100; ; backoff = Math.min(backoff * 2, 5000)) {
      try {
        await this.inTransaction((tx) => this.store.park(tx, key, undefined, delivery.body, delivery.brokerId, { reason, attempts: 1 }));
        this.counters.parked++;
        this.logger.error({ consumer: this.name, brokerId: delivery.brokerId, reason }, 'herald: malformed message parked');
        this.hooks?.messageParked({ consumer: this.name, key, reason });
        await delivery.ack();
        return;
      } catch (dbError) {
        this.unhealthy(dbError);
        if (!this.running) return delivery.nack();
        await delay(backoff);
      }
    }
  }

  /** Handles the held messages of a stream that are next in line, one at a time, in version order. */
  private async drainHeld(streamId: string): Promise<void> {
    if (this.ordering !== 'stream') return;
    while (this.running) {
      let held: StoredMessage | undefined;
      try {
        await this.store.reopenClosedGaps(this.pool, streamId);
        held = await this.store.nextHeld(this.pool, streamId);
      } catch (error) {
        this.unhealthy(error); // the sweeper looks again
        return;
      }
      if (!held) return;
      let event: ReceivedEvent;
      try {
        event = decodeCloudEvent(held.body);
      } catch {
        return; // only valid events are ever held
      }
      const outcome = await this.process(event, { key: held.key, body: held.body, brokerId: held.brokerId, stored: held });
      if (outcome === 'held' || outcome === 'parked' || outcome === undefined) return;
    }
  }

  /** Drains streams whose next version is held, and parks held messages whose gap did not close in time. */
  private sweep(): Promise<void> {
    if (this.sweeping || !this.running) return this.sweeping ?? Promise.resolve();
    this.sweeping = (async () => {
      try {
        for (const streamId of await this.store.reopenClosedGaps(this.pool, null)) {
          this.heldSeen = true;
          this.track(this.onStream(streamId, () => this.drainHeld(streamId)));
        }
        for (const stream of await this.store.heldStreams(this.pool, this.reorderWaitMs)) {
          this.heldSeen = true;
          if (stream.ready) this.track(this.onStream(stream.streamId, () => this.drainHeld(stream.streamId)));
          else this.track(this.onStream(stream.streamId, () => this.parkGap(stream.streamId)));
        }
      } catch (error) {
        this.unhealthy(error);
      } finally {
        this.sweeping = undefined;
      }
    })();
    return this.sweeping;
  }

  /** Parks the lowest held message of a stream whose missing versions did not arrive within `reorderWaitMs`. */
  private async parkGap(streamId: string): Promise<void> {
    const parked = await this.inTransaction(async (tx) => {
      const stream = await this.store.lockStream(tx, streamId);
      const held = await this.store.nextHeld(tx, streamId);
      if (!held || held.streamVersion === null || stream.parkedVersion !== null) return false;
      if (held.streamVersion <= stream.version + 1) return 'ready';
      const missing = held.streamVersion - 1 === stream.version + 1 ? `${stream.version + 1}` : `${stream.version + 1}…${held.streamVersion - 1}`;
      const reason = `stream version ${missing} did not arrive within ${this.reorderWaitMs} ms`;
      let event: ReceivedEvent | undefined;
      try {
        event = decodeCloudEvent(held.body);
      } catch {
        event = undefined;
      }
      await this.store.park(tx, held.key, event, held.body, held.brokerId, { reason, attempts: 0, gap: true });
      this.logger.error({ consumer: this.name, streamId, reason }, 'herald: held message parked');
      return true;
    });
    if (parked === true) this.counters.parked++;
    if (parked === 'ready') await this.drainHeld(streamId);
  }

  // ---------------------------------------------------------------- operators

  private async operatorRetry(key: string): Promise<{ status: 'retried' | 'parked'; reason?: string }> {
    const stored = await this.store.read(this.pool, key);
    if (!stored || stored.status !== 'parked') throw new ConsumerMessageNotParkedError(this.name, key, stored?.status);
    let event: ReceivedEvent;
    try {
      event = decodeCloudEvent(stored.body);
      if (event.metadata.source !== this.source) throw new MalformedMessageError(`sent by context '${event.metadata.source}'`);
    } catch (error) {
      await this.store.recordAttempt(this.pool, key, describe(error), undefined);
      return { status: 'parked', reason: describe(error) };
    }
    const streamId = event.metadata.streamId;
    let result: { status: 'retried' | 'parked'; reason?: string } = { status: 'parked' };
    let refused: unknown;
    // In line with this stream's own work (limited() only logs what work throws: keep it here).
    await this.onStream(streamId, async () => {
      try {
        const current = await this.store.read(this.pool, key);
        if (!current || current.status !== 'parked') throw new ConsumerMessageNotParkedError(this.name, key, current?.status);
        const invalid = await this.check(event);
        try {
          const outcome = await this.handleOnce(event, { key, body: stored.body, brokerId: stored.brokerId, stored: current, forced: true }, invalid);
          this.count(outcome);
          result = outcome === 'parked' ? { status: 'parked', reason: invalid ?? 'parked' } : { status: 'retried' };
        } catch (error) {
          if (!(error instanceof HandlerFailed)) throw error;
          const summary = summarizeError(error.error);
          await this.store.recordAttempt(this.pool, key, `retry failed: ${summary.message}`, summary);
          result = { status: 'parked', reason: `retry failed: ${summary.message}` };
        }
      } catch (error) {
        refused = error;
      }
    });
    if (refused) throw refused;
    if (result.status === 'retried') await this.onStream(streamId, () => this.drainHeld(streamId));
    return result;
  }

  private async operatorSkip(key: string, reason: string): Promise<void> {
    const stored = await this.store.read(this.pool, key);
    if (!stored || stored.status !== 'parked') throw new ConsumerMessageNotParkedError(this.name, key, stored?.status);
    let event: ReceivedEvent | undefined;
    try {
      event = decodeCloudEvent(stored.body);
    } catch {
      event = undefined;
    }
    const work = async () => {
      await this.inTransaction(async (tx) => {
        const current = await this.store.read(tx, key, true);
        if (!current || current.status !== 'parked') throw new ConsumerMessageNotParkedError(this.name, key, current?.status);
        if (event) {
          await this.store.lockStream(tx, event.metadata.streamId);
          await this.store.recordInInbox(tx, event.metadata.eventId);
          await this.store.finish(tx, event, { key, resolution: 'skipped', reason });
        }
        else await this.store.resolve(tx, key, 'skipped', reason);
      });
      if (event) await this.drainHeld(event.metadata.streamId);
    };
    if (!event) return work();
    let failure: unknown;
    await this.onStream(event.metadata.streamId, () => work().catch((error) => void (failure = error)));
    if (failure) throw failure;
  }

  // ---------------------------------------------------------------- receipts back to the sender

  /** Sends stored receipts to the sender over the broker; deletes them only once the broker confirmed. */
  private acknowledge(): Promise<void> {
    if (this.acknowledging) return this.acknowledging;
    this.acknowledging = (async () => {
      try {
        for (;;) {
          const sent = await this.inTransaction(async (tx) => {
            const receipts = await this.store.takeReceipts(tx, 10_000);
            if (receipts.length === 0) return 0;
            const body = encodeAcknowledgement({ consumer: this.name, source: this.source, ranges: toRanges(receipts) });
            await this.definition.transport.publish('acks', [{ id: `${this.name}:${Date.now()}:${receipts[0]!.eventNumber}`, source: this.source, type: ACK_TYPE, key: this.name, body }]);
            return receipts.length;
          });
          if (sent < 10_000) return;
        }
      } catch (error) {
        this.logger.warn({ err: error, consumer: this.name }, 'herald: could not send delivery receipts (will retry)');
      } finally {
        this.acknowledging = undefined;
      }
    })();
    return this.acknowledging;
  }

  // ---------------------------------------------------------------- plumbing

  private async inTransaction<T>(work: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await checkout(this.pool);
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      try {
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        if (error instanceof HandlerFailed && error.error instanceof HandlerTimeoutError) {
          // The handler may still be using the connection: a ROLLBACK would let its next statement
          // run outside any transaction and commit. Cancel what it runs and drop the connection
          // instead; the server rolls the transaction back.
          broken = error.error;
          const backend = (client as unknown as { processID?: number }).processID;
          if (backend) await this.pool.query('SELECT pg_cancel_backend($1)', [backend]).catch(() => {});
          throw error;
        }
        await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
        throw error;
      }
    } catch (error) {
      if (!(error instanceof HandlerFailed) && !(error instanceof ConsumerMessageNotParkedError)) broken ??= error instanceof Error ? error : new Error(String(error));
      throw error;
    } finally {
      client.release(broken);
    }
  }

  private count(outcome: Outcome): void {
    if (outcome === 'handled') this.counters.handled++;
    else if (outcome === 'duplicate') this.counters.duplicates++;
    else if (outcome === 'held') {
      this.counters.held++;
      this.heldSeen = true;
    }
    else if (outcome === 'parked') this.counters.parked++;
  }

  private unhealthy(error: unknown): void {
    if (this.health.healthy) this.logger.warn({ err: error, consumer: this.name }, 'herald: consumer cannot reach the database, retrying');
    this.health = { healthy: false, lastError: describe(error) };
  }

  private recovered(): void {
    if (!this.health.healthy) this.health = { healthy: true, lastError: this.health.lastError };
  }
}

function positive(consumer: string, name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new ConfigError(`consumer '${consumer}': ${name} must be a positive number, got ${JSON.stringify(value)}`);
  return value;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function withTimeout<T>(value: T | Promise<T>, ms: number, timeout: () => Error): Promise<T> {
  if (!(value instanceof Promise)) return value;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([value, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(timeout()), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
