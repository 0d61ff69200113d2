import { guardPool } from './sql/executor.js';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { ConfigError, DuplicateSubscriptionError } from './errors.js';
import type { EventDefinition } from './events/define.js';
import type { NewEvent, RecordedEvent } from './events/types.js';
import { Inbox } from './inbox/inbox.js';
import { ParkedEvents } from './parking/operator.js';
import { validateStreamId, type AppendOptions, type AppendResult } from './log/append.js';
import { readOpenAppends } from './log/open-appends.js';
import { LogPages } from './log/pages.js';
import { countUnsequenced, readHead, readLog, readStream } from './log/read.js';
import { Sequencer } from './log/sequencer.js';
import { Listener } from './runtime/listener.js';
import { channelOf, decodeNotification } from './runtime/notifications.js';
import { Telemetry } from './runtime/telemetry.js';
import { type Logger, silentLogger } from './runtime/logger.js';
import { assertMigrated, migrate, type MigrateResult } from './schema/migrate.js';
import type { SqlExecutor } from './sql/executor.js';
import { quoteIdent, validateSqlName } from './sql/identifiers.js';
import { ConsistencyWaiters } from './subscriptions/consistency.js';
import { checkSubscription, type StartFrom, type SubscriptionDefinition } from './subscriptions/definition.js';
import { Lease } from './subscriptions/lease.js';
import { type ControlEmit, SubscriptionControl } from './subscriptions/control.js';
import { type RunnerHooks, SubscriptionRunner } from './subscriptions/runner.js';
import { readSubscriptionStatus } from './subscriptions/status.js';
import { Consumer, type ConsumerDefinition } from './consumers/consumer.js';
import { ParkedMessages } from './consumers/operator.js';
import { DeliveryJournal } from './deliveries/journal.js';
import { Operations } from './operations/operations.js';
import { Relay, type RelayHandle, type RelayHooks } from './relay/relay.js';
import { logSource } from './relay/source.js';
import type { OutboxRelayHandle } from './outbox/handle.js';
import type { OutboxRelayOptions } from './outbox/options.js';
import { createOutboxRelay } from './outbox/relay.js';
import { type RelayOptions, relaySettings } from './relay/options.js';
import { AcknowledgementCollection, type RelayDeliveries } from './deliveries/collection.js';
import { buildRegistry, type HeraldEvents, type HeraldOptions, type LogStatus, positive, validateStartFrom } from './herald/options.js';
import { hintSequencers, runningSequencers, WriterWake } from './herald/sequencers.js';
import { LogWriter } from './herald/writing.js';
import { subscriptionHooks } from './herald/reporting.js';

export type { HeraldEvents, HeraldOptions, LogStatus } from './herald/options.js';

/** Something that runs with a log (a saga's timeout scheduler, a metrics server): see {@link Herald.attach}. */
export interface Worker {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * One bounded context's event log: append events inside your transactions, and run durable
 * subscriptions on them.
 *
 * ```ts
 * const orders = createHerald({ pool, context: 'orders', events: [OrderPlaced] });
 * await orders.migrate();
 * await orders.transaction(async (tx) => {
 *   await tx.query('INSERT INTO orders.orders (id) VALUES ($1)', [id]);
 *   await orders.append(tx, `order-${id}`, [OrderPlaced.create({ orderId: id, qty: 1 })]);
 * });
 * ```
 */
export class Herald {
  readonly context: string;
  /** This process's identity in subscription leases. */
  readonly processId: string;
  /** The pool this log uses (for extensions: sagas, the admin panel, metrics). */
  readonly pool: pg.Pool;
  private readonly schema: string;
  private readonly channel: string;
  private readonly registry: ReadonlyMap<string, EventDefinition>;
  private readonly logger: Logger;
  private readonly leaseTtlMs: number;
  private readonly pollMs: number;
  /** Pages of the log its subscriptions share. */
  private readonly pages: LogPages;
  private readonly sequencer: Sequencer | undefined;
  private readonly runners = new Map<string, SubscriptionRunner>();
  private readonly writer: LogWriter;
  private readonly waiters: ConsistencyWaiters;
  private listener: Listener | undefined;
  private started = false;
  private readonly events = new EventEmitter();
  /** Operator API: list, retry and skip parked events of this log's subscriptions. */
  readonly parked: ParkedEvents;
  /** The idempotent consumer of this context, for messages that arrive from outside the log. */
  readonly inbox: Inbox;
  /** Which consumers in other contexts handled this log's events: journeys, flagged events, status. */
  readonly deliveries: DeliveryJournal;
  /**
   * Operator API for messages this context's consumers stored (parked, scheduled for a retry):
   * list them, retry or skip one or all matching a filter. Requests are carried out by whichever
   * process runs the consumer; this works without running one.
   */
  readonly parkedMessages: ParkedMessages;
  /**
   * Spans around this context's units of work — `log:append`, `subscription:batch`, `subscription:handle`,
   * `relay:publish`, `consumer:batch`, `consumer:message`, `consumer:handle`, each with `:start`, `:stop`
   * and `:exception` — for metrics and tracing (`herald/metrics`, `herald/tracing`); see {@link Telemetry}.
   */
  readonly telemetry = new Telemetry();
  /** Operator controls of this log's subscriptions and relays (restart, pause, resume, reset), from any process. */
  readonly subscriptions: SubscriptionControl;
  /**
   * What operators do, for the admin panel and the CLI: frozen bulk retries and skips, the audit
   * log, failures grouped by fingerprint, search of the log, event journeys (see {@link Operations}).
   */
  readonly operations: Operations;
  private readonly relays = new Map<string, RelayDeliveries>();
  private readonly relayLoops = new Map<string, Relay>();
  /** Relays of the application's own outbox tables (also in relayLoops). */
  private readonly outboxes = new Map<string, OutboxRelayHandle>();
  private readonly acknowledgements: AcknowledgementCollection;
  private readonly consumers = new Map<string, Consumer>();
  private readonly writerWake: WriterWake;
  private readonly workers = new Set<Worker>();

  constructor(options: HeraldOptions) {
    if (!options || typeof options.pool?.connect !== 'function') throw new ConfigError('createHerald: `pool` must be a pg Pool');
    this.context = validateSqlName('context', options.context);
    if (this.context.length > 48) throw new ConfigError(`createHerald: context '${this.context}' is longer than 48 characters`);
    this.pool = options.pool;
    guardPool(this.pool);
    this.schema = quoteIdent(this.context);
    this.channel = channelOf(this.context);
    this.logger = options.logger ?? silentLogger;
    this.leaseTtlMs = positive('leaseTtlMs', options.leaseTtlMs, 15_000);
    this.pollMs = positive('pollMs', options.pollMs, 500);
    this.pages = new LogPages(this.pool, this.schema);
    this.processId = options.processId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.registry = buildRegistry(options.events ?? []);
    const sequencer = options.sequencer ?? true;
    this.sequencer = sequencer
      ? new Sequencer(this.pool, this.schema, this.channel, (head) => this.onLogAdvanced(head), this.logger, sequencer === true ? {} : sequencer)
      : undefined;
    this.waiters = new ConsistencyWaiters(this.pool, this.schema, () => hintSequencers(this.context));
    this.writer = new LogWriter(this.pool, this.schema, this.context, this.registry, this.telemetry, this.waiters, () => this.committed());
    this.parked = new ParkedEvents(this.pool, this.schema, this.channel);
    this.parkedMessages = new ParkedMessages(this.pool, this.schema, this.channel);
    this.subscriptions = new SubscriptionControl(this.pool, this.schema, this.channel, this.processId, this.emit.bind(this) as ControlEmit);
    this.inbox = new Inbox(this.pool, this.schema, this.logger, options.inbox);
    this.deliveries = new DeliveryJournal(this.pool, this.schema, this.context, this.logger, options.deliveries);
    this.acknowledgements = new AcknowledgementCollection(this.deliveries, this.logger);
    this.operations = new Operations({
      pool: this.pool,
      context: this.context,
      processId: this.processId,
      parked: this.parked,
      parkedMessages: this.parkedMessages,
      deliveries: this.deliveries,
    });
    this.writerWake = new WriterWake(this.pool, this.channel, this.logger);
  }

  /** Listens to what this Herald reports (failures, parking, retries, stops). */
  on<K extends keyof HeraldEvents>(event: K, listener: (payload: HeraldEvents[K]) => void): this {
    this.events.on(event, listener);
    return this;
  }

  off<K extends keyof HeraldEvents>(event: K, listener: (payload: HeraldEvents[K]) => void): this {
    this.events.off(event, listener);
    return this;
  }

  private emit<K extends keyof HeraldEvents>(event: K, payload: HeraldEvents[K]): void {
    try {
      this.events.emit(event, payload);
    } catch (error) {
      this.logger.error({ err: error, event }, 'herald: an event listener threw');
    }
  }

  private relayHooks(): RelayHooks {
    return {
      telemetry: this.telemetry,
      progress: () => {},
      refused: (info) => this.emit('messageRefused', info),
      stopped: (info) => this.emit('subscriptionStopped', { subscription: info.relay, reason: info.reason }),
    };
  }

  private runnerHooks(): RunnerHooks {
    return subscriptionHooks((event, payload) => this.emit(event, payload), this.logger, this.telemetry, () => this.waiters.poke());
  }

  /** Creates or upgrades this context's schema (idempotent; safe from several processes at once). */
  migrate(): Promise<MigrateResult> {
    return migrate(this.pool, this.context);
  }

  /**
   * Appends events to a stream.
   *
   * - `append(tx, streamId, events, options?)` writes through your executor, inside your open
   *   transaction: the events commit or roll back with your state change. `tx` is a `pg` client
   *   or any {@link SqlExecutor}.
   * - `append(streamId, events, options?)` runs its own transaction on the pool.
   *
   * Payloads are validated (schema, JSON-safety) before anything is written. A version conflict
   * throws `WrongExpectedVersionError` and aborts the transaction.
   *
   * `consistency: 'strong'` resolves after every strong subscription has handled the events. It
   * needs Herald to see the commit: use it with the second form or inside {@link transaction}.
   */
  async append(tx: SqlExecutor, streamId: string, events: NewEvent | readonly NewEvent[], options?: AppendOptions): Promise<AppendResult>;
  async append(streamId: string, events: NewEvent | readonly NewEvent[], options?: AppendOptions): Promise<AppendResult>;
  async append(...args: unknown[]): Promise<AppendResult> {
    if (typeof args[0] === 'string') {
      const [streamId, events, options] = args as [string, NewEvent | readonly NewEvent[], AppendOptions | undefined];
      return this.transaction((tx) => this.append(tx, streamId, events, options));
    }
    const [tx, streamId, events, options] = args as [SqlExecutor, string, NewEvent | readonly NewEvent[], AppendOptions | undefined];
    return this.writer.append(tx, streamId, events, options);
  }

  /**
   * Runs `fn` in a transaction on a pooled client: commits when it resolves, rolls back when it
   * throws. Resolves after the commit — and, for strong appends made inside, after every strong
   * subscription handled them (or rejects with `ConsistencyTimeoutError`; the commit stands).
   */
  transaction<T>(fn: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.writer.transaction(fn);
  }

  /**
   * Waits until every strong subscription has handled the events of an append made with the
   * default consistency in a transaction Herald did not own. Call it after your commit.
   */
  waitForConsistency(result: AppendResult, options: { timeoutMs?: number } = {}): Promise<void> {
    return this.writer.waitForConsistency(result, options);
  }

  /** A stream's events after `afterVersion` (default: all), in version order; inside `tx` when given. */
  readStream(streamId: string, afterVersion = 0, tx: SqlExecutor = this.pool): Promise<RecordedEvent[]> {
    return readStream(tx, this.schema, validateStreamId(streamId), afterVersion);
  }

  /** Sequenced events after `afterEventNumber`, in log order. */
  readLog(afterEventNumber = 0, limit = 1000): Promise<RecordedEvent[]> {
    return readLog(this.pool, this.schema, afterEventNumber, limit);
  }

  /** Runs `worker` with this log: started by `start()` (at once if started), stopped first by `stop()`. */
  attach(worker: Worker): this {
    this.workers.add(worker);
    if (this.started) void worker.start().catch((error) => this.logger.error({ err: error }, 'herald: worker start failed'));
    return this;
  }

  /** Registers a durable subscription on this log. Starts it at once if the log is started. */
  subscribe(definition: SubscriptionDefinition): this {
    const name = checkSubscription(definition);
    if (this.runners.has(name) || this.relayLoops.has(name)) throw new DuplicateSubscriptionError(name);
    const lease = new Lease(this.pool, `${this.schema}.subscriptions`, name, this.processId, this.leaseTtlMs, this.channel);
    const runner = new SubscriptionRunner(
      definition,
      this.pool,
      this.schema,
      lease,
      this.pages,
      { leaseTtlMs: this.leaseTtlMs, pollMs: this.pollMs },
      this.logger,
      this.runnerHooks(),
      definition.consistency === 'strong' ? this.channel : undefined,
    );
    this.runners.set(name, runner);
    if (this.started) void this.startRunner(runner).catch(() => {});
    return this;
  }

  /**
   * Relays this log to a broker: a durable subscription that publishes every event as a
   * CloudEvent and moves its checkpoint only after the broker confirmed the page. It also collects
   * consumers' delivery acknowledgements (see {@link deliveries}). Starts with the log.
   *
   * ```ts
   * import { rabbitmq } from 'herald/transports/rabbitmq';
   * orders.relay({ transport: rabbitmq({ url }), expectedConsumers: ['billing'] });
   * ```
   */
  relay(options: RelayOptions): RelayHandle {
    const settings = relaySettings(options);
    if (this.runners.has(settings.name) || this.relayLoops.has(settings.name)) throw new DuplicateSubscriptionError(settings.name);
    const lease = new Lease(this.pool, `${this.schema}.subscriptions`, settings.name, this.processId, this.leaseTtlMs, this.channel);
    const timing = { leaseTtlMs: this.leaseTtlMs, pollMs: this.pollMs };
    const relay = new Relay(this.pool, this.schema, this.context, settings, lease, timing, this.logger, this.relayHooks(), logSource(this.pool, this.schema, this.context));
    this.relayLoops.set(settings.name, relay);
    const entry = { transport: settings.transport, collect: options.collectAcknowledgements ?? true, expected: options.expectedConsumers ?? [] };
    this.relays.set(settings.name, entry);
    if (this.started) {
      void this.startRelay(relay).catch((error) => this.logger.error({ err: error }, 'herald: relay start failed'));
      void this.acknowledgements.add(entry).catch((error) => this.logger.error({ err: error }, 'herald: relay start failed'));
    }
    return relay;
  }

  /**
   * Relays an application's own outbox table (the seed's `orders_outbox` shape: `id` from a
   * sequence, `aggregate_id`, `event_type`, `payload`, `occurred_at`, `dispatched_at`) to a broker,
   * without changing its writers: the relay's loop, policies and parking, with rows read in id
   * order up to a watermark no uncommitted id is below, stream versions per aggregate, and
   * `dispatched_at` set once the broker confirmed. The table is checked when the relay starts.
   *
   * ```ts
   * orders.relayOutbox({ table: 'orders_outbox', schema: 'orders', transport: rabbitmq({ url }) });
   * ```
   */
  relayOutbox(options: OutboxRelayOptions): OutboxRelayHandle {
    const { relay, handle } = createOutboxRelay(options, {
      ...{ pool: this.pool, schema: this.schema, context: this.context, processId: this.processId },
      ...{ leaseTtlMs: this.leaseTtlMs, channel: this.channel, logger: this.logger },
      hooks: this.relayHooks(),
    });
    if (this.runners.has(relay.name) || this.relayLoops.has(relay.name)) throw new DuplicateSubscriptionError(relay.name);
    this.relayLoops.set(relay.name, relay);
    this.outboxes.set(relay.name, handle);
    if (this.started) void this.startRelay(relay).catch((error) => this.logger.error({ err: error, relay: relay.name }, 'herald: outbox relay start failed'));
    return handle;
  }

  private async startRelay(relay: Relay): Promise<void> {
    await this.ensureCheckpoint(relay.name, relay.settings.startFrom, 'eventual');
    await relay.start();
  }

  /**
   * Consumes another context's events from a broker into this context's database (exactly-once
   * effect through the inbox; see {@link ConsumerDefinition}). Starts with the log; the returned
   * {@link Consumer} has the operator API for its parked messages.
   */
  consume<const Events extends readonly EventDefinition[] = readonly EventDefinition[]>(definition: ConsumerDefinition<Events>): Consumer {
    const consumer = new Consumer(this.pool, this.schema, this.logger, definition as unknown as ConsumerDefinition, this.parkedMessages, {
      telemetry: this.telemetry,
      duplicateDropped: (info) => this.emit('duplicateDropped', info),
      messageParked: (info) => this.emit('messageParked', info),
      attemptFailed: (info) => this.emit('messageAttemptFailed', info),
      consumerStopped: (info) => this.emit('consumerStopped', info),
    });
    if (this.consumers.has(consumer.name)) throw new DuplicateSubscriptionError(consumer.name);
    this.consumers.set(consumer.name, consumer);
    if (this.started) void consumer.start().catch((error) => this.logger.error({ err: error, consumer: consumer.name }, 'herald: consumer start failed'));
    return consumer;
  }

  /**
   * Starts the sequencer, the notification listener and every subscription. Resolves when each
   * subscription runs here or stands by for another process; rejects with
   * `SubscriptionInitError` if an `init()` failed (that subscription is marked failed, the rest run).
   */
  async start(overrides: { startFrom?: Record<string, StartFrom> } = {}): Promise<void> {
    if (this.started) return;
    await assertMigrated(this.pool, this.context);
    this.started = true;
    this.listener = new Listener(
      this.pool,
      this.channel,
      (payload) => this.onNotification(payload),
      // Notifications sent while the listener was away are lost: every runner reads once.
      () => this.recheckAll(),
      this.logger,
    );
    this.listener.start();
    if (this.sequencer) {
      await this.sequencer.drain();
      this.sequencer.start();
      const local = runningSequencers.get(this.context) ?? new Set<Sequencer>();
      runningSequencers.set(this.context, local.add(this.sequencer));
    }
    this.inbox.start();
    for (const entry of this.relays.values()) await this.acknowledgements.add(entry);
    for (const relay of this.relayLoops.values()) await this.startRelay(relay);
    for (const consumer of this.consumers.values()) await consumer.start();
    for (const worker of this.workers) await worker.start();
    const results = await Promise.allSettled([...this.runners.values()].map((r) => this.startRunner(r, overrides.startFrom?.[r.name])));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Stops gracefully: each subscription finishes its batch in hand and releases its lease. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await Promise.all([...this.workers].map((w) => w.stop()));
    await Promise.all([...this.consumers.values()].map((c) => c.stop()));
    await this.acknowledgements.stop();
    await Promise.all([...this.runners.values(), ...this.relayLoops.values()].map((r) => r.stop()));
    if (this.sequencer) runningSequencers.get(this.context)?.delete(this.sequencer);
    await this.sequencer?.stop();
    await this.listener?.stop();
    await this.inbox.stop();
    await this.writerWake.idle();
    this.emit('stopped', { context: this.context });
  }

  /** Head of the log, open appends, and every subscription's position, lag, state and lease holder (all processes). */
  async status(): Promise<LogStatus> {
    const head = await readHead(this.pool, this.schema);
    return {
      context: this.context,
      head,
      unsequenced: await countUnsequenced(this.pool, this.schema),
      openAppends: await readOpenAppends(this.pool, this.context),
      subscriptions: await readSubscriptionStatus(this.pool, this.schema, head),
      relays: [...this.relayLoops.values()].map((relay) => ({ name: relay.name, active: relay.active, ...relay.health() })),
      consumers: await Promise.all([...this.consumers.values()].map((c) => c.status())),
      outboxes: await Promise.all([...this.outboxes.values()].map((o) => o.status())),
      deliveries: await this.deliveries.status(head),
    };
  }

  private async startRunner(runner: SubscriptionRunner, startFrom?: StartFrom): Promise<void> {
    await this.ensureCheckpoint(runner.name, startFrom ?? runner.definition.startFrom ?? 'origin', runner.definition.consistency ?? 'eventual');
    await runner.start();
  }

  /** The stored checkpoint of a subscription or relay: created at `startFrom` the first time its name is seen. */
  private async ensureCheckpoint(name: string, from: StartFrom, consistency: 'eventual' | 'strong'): Promise<void> {
    validateStartFrom(name, from);
    const position = from === 'origin' ? 0 : from === 'current' ? await this.currentHead() : from;
    await this.pool.query(
      `INSERT INTO ${this.schema}.subscriptions (name, position, consistency) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET consistency = EXCLUDED.consistency`,
      [name, position, consistency],
    );
  }

  private async currentHead(): Promise<number> {
    await this.sequencer?.drain();
    return readHead(this.pool, this.schema);
  }

  /** After a commit that appended: wake the local sequencer, or a remote one by notification. */
  private committed(): void {
    if (!hintSequencers(this.context)) this.writerWake.notify();
  }

  private onNotification(payload: string): void {
    const notification = decodeNotification(payload);
    switch (notification.kind) {
      case 'committed':
        return this.sequencer?.hint();
      case 'sequenced':
        return this.onLogAdvanced(notification.head);
      case 'progressed':
        return this.waiters.poke();
      case 'event-requested':
      case 'released':
      case 'control-requested':
        for (const loop of this.loops()) loop.nudge();
        return;
      case 'message-requested':
        for (const consumer of this.consumers.values()) consumer.nudge();
        return;
      case 'restart-requested':
        return this.restartFailed();
      case 'unknown':
        return this.recheckAll();
    }
  }

  /** An operator restarted a failed subscription or relay: the process it failed in takes it again (standbys are nudged). */
  private restartFailed(): void {
    for (const runner of this.runners.values()) {
      if (runner.phase === 'failed') void this.startRunner(runner).catch((error) => this.logger.warn({ err: error, subscription: runner.name }, 'herald: restart failed'));
      else runner.nudge();
    }
    for (const relay of this.relayLoops.values()) {
      if (relay.phase === 'failed') void this.startRelay(relay).catch((error) => this.logger.warn({ err: error, relay: relay.name }, 'herald: restart failed'));
      else relay.nudge();
    }
  }

  /** Every loop that reads this log in this process: subscriptions and relays. */
  private loops(): (SubscriptionRunner | Relay)[] {
    return [...this.runners.values(), ...this.relayLoops.values()];
  }

  private recheckAll(): void {
    for (const loop of this.loops()) loop.recheck();
    this.waiters.poke();
  }

  private onLogAdvanced(head: number): void {
    for (const loop of this.loops()) loop.logAdvanced(head);
    this.waiters.poke();
  }
}

/** Creates a {@link Herald} for one bounded context. */
export function createHerald(options: HeraldOptions): Herald {
  return new Herald(options);
}

