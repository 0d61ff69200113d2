import { guardPool } from './sql/executor.js';
import { transaction } from './sql/transaction.js';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import {
  ConfigError,
  ConsistencyOutsideTransactionError,
  DuplicateSubscriptionError,
  InvalidArgumentError,
} from './errors.js';
import type { EventDefinition } from './events/define.js';
import type { NewEvent, RecordedEvent } from './events/types.js';
import type { ErrorAction, FailureContext } from './handlers/policy.js';
import { Inbox, type InboxOptions } from './inbox/inbox.js';
import { ParkedEvents } from './parking/operator.js';
import { appendToStream, prepareEvents, validateStreamId, type AppendOptions, type AppendResult } from './log/append.js';
import { readOpenAppends, type OpenAppend } from './log/open-appends.js';
import { readHead, readLog, readStream } from './log/read.js';
import { Sequencer, type SequencerOptions } from './log/sequencer.js';
import { Listener } from './runtime/listener.js';
import { type Logger, silentLogger } from './runtime/logger.js';
import { migrate, type MigrateResult } from './schema/migrate.js';
import { migrations } from './schema/migrations.js';
import type { SqlExecutor } from './sql/executor.js';
import { quoteIdent, validateSqlName, validateSubscriptionName } from './sql/identifiers.js';
import { ConsistencyWaiters } from './subscriptions/consistency.js';
import type { StartFrom, SubscriptionDefinition, SubscriptionStatus } from './subscriptions/definition.js';
import { Lease } from './subscriptions/lease.js';
import { SubscriptionControl } from './subscriptions/control.js';
import { type RunnerHooks, SubscriptionRunner } from './subscriptions/runner.js';
import { readSubscriptionStatus } from './subscriptions/status.js';
import { Consumer, type ConsumerDefinition, type ConsumerStatus } from './consumers/consumer.js';
import { ParkedMessages } from './consumers/operator.js';
import type { ReceivedEvent } from './transports/cloudevents.js';
import { type ConsumerDeliveryStatus, DeliveryJournal, type DeliveryOptions } from './deliveries/journal.js';
import { type RelayHandle, type RelayOptions, relaySubscription } from './relay/relay.js';
import type { SubscriptionHealth } from './subscriptions/definition.js';
import type { Consumption, Transport } from './transports/transport.js';

/** How to build a {@link Herald}. */
export interface HeraldOptions {
  /** A `pg` pool. Herald borrows connections per batch and keeps one for LISTEN while started. */
  readonly pool: pg.Pool;
  /**
   * The bounded context: the PostgreSQL schema that holds its log and subscriptions.
   * Lower-case letters, digits and `_`, at most 48 characters.
   */
  readonly context: string;
  /** Event definitions whose schemas validate appended payloads of their type. */
  readonly events?: readonly EventDefinition[];
  /** Run this log's sequencer in this process when started. Default `true`. */
  readonly sequencer?: boolean | SequencerOptions;
  /** Subscription lease time to live (takeover bound after a crash). Default 15 000 ms. */
  readonly leaseTtlMs?: number;
  /** Subscriptions poll the log this often when no notification arrives. Default 500 ms. */
  readonly pollMs?: number;
  /** A pino-compatible logger. Default: silent. */
  readonly logger?: Logger;
  /** This process's identity in leases. Default `host:pid:random`. */
  readonly processId?: string;
  /** Retention of the inbox's handled message ids. */
  readonly inbox?: InboxOptions;
  /** How delivery to other contexts' consumers is judged (when events are flagged). */
  readonly deliveries?: DeliveryOptions;
}

/**
 * What a Herald reports as it runs, for logs and metrics: `herald.on('eventParked', (e) => …)`.
 * Listeners run synchronously in the subscription's loop: keep them quick and do not throw.
 */
export interface HeraldEvents {
  /** A handler failed; `action` is what the error policy decided. */
  attemptFailed: { subscription: string; event: RecordedEvent; error: unknown; failure: FailureContext; action: ErrorAction };
  /** An event was parked for review; its stream waits behind it. */
  eventParked: { subscription: string; event: RecordedEvent; reason: string | null; fingerprint: string };
  /** An event was skipped, by the error policy or an operator. */
  eventSkipped: { subscription: string; event: RecordedEvent; reason: string; byOperator: boolean };
  /** A parked or scheduled event succeeded on retry. */
  parkedRetried: { subscription: string; event: RecordedEvent };
  /** A handler returned `ALREADY_SEEN`: the event counts as handled (reported once its batch committed). */
  eventAlreadySeen: { subscription: string; event: RecordedEvent };
  /** A subscription stopped because of a failure (policy `stop`, or `init()` failed). */
  subscriptionStopped: { subscription: string; reason: string };
  /** A consumer received an event it had already handled (a redelivery) and dropped it. */
  duplicateDropped: { consumer: string; eventId: string; eventNumber: number };
  /** A consumer parked a message: malformed, unknown type (when set to park), invalid payload, a handler failure, or a gap that did not close. */
  messageParked: { consumer: string; key: string; reason: string };
  /** A consumer's handler failed; `action` is what the error policy decided (stored before the broker ack). */
  messageAttemptFailed: { consumer: string; event: ReceivedEvent; error: unknown; failure: FailureContext; action: ErrorAction };
  /** A consumer stopped in this process because its error policy said `stop`. */
  consumerStopped: { consumer: string; reason: string };
}

/** The log's own figures and every subscription's, as {@link Herald.status} returns them. */
export interface LogStatus {
  readonly context: string;
  /** Last sequenced event number. */
  readonly head: number;
  /** Committed events not sequenced yet (normally 0 or a few in flight). */
  readonly unsequenced: number;
  /**
   * Sessions (any process) whose open transaction appended to this log, oldest first. Until they
   * end, their events stay invisible and other appends to their streams wait: one listed for long,
   * `idle in transaction`, is an application that forgot to commit.
   */
  readonly openAppends: readonly OpenAppend[];
  readonly subscriptions: readonly SubscriptionStatus[];
  /** Relays running in this process, with their health (unhealthy while the broker fails). */
  readonly relays: readonly ({ readonly name: string; readonly active: boolean } & SubscriptionHealth)[];
  /** Consumers of other contexts running in this process. */
  readonly consumers: readonly ConsumerStatus[];
  /** Per consumer of this context's events (known from acknowledgements or expected): handled, pending, flagged. */
  readonly deliveries: readonly ConsumerDeliveryStatus[];
}

interface TransactionScope {
  appended: boolean;
  strong: { eventIds: string[]; timeoutMs: number }[];
}

const DEFAULT_CONSISTENCY_TIMEOUT_MS = 5000;

/**
 * Sequencers running in this process, by context. Any Herald of a context hints all of them, so
 * an app that writes through one instance and runs subscriptions on another still wakes at once.
 */
const runningSequencers = new Map<string, Set<Sequencer>>();

function hintSequencers(context: string, committed = true): boolean {
  const sequencers = runningSequencers.get(context);
  for (const sequencer of sequencers ?? []) {
    if (committed) sequencer.hint();
    else sequencer.hintSoon();
  }
  return (sequencers?.size ?? 0) > 0;
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
  private readonly pool: pg.Pool;
  private readonly schema: string;
  private readonly channel: string;
  private readonly registry: ReadonlyMap<string, EventDefinition>;
  private readonly logger: Logger;
  private readonly leaseTtlMs: number;
  private readonly pollMs: number;
  private readonly sequencer: Sequencer | undefined;
  private readonly runners = new Map<string, SubscriptionRunner>();
  private readonly scopes = new WeakMap<object, TransactionScope>();
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
  /** Operator controls of this log's subscriptions (restart a failed one), from any process. */
  readonly subscriptions: SubscriptionControl;
  private readonly relays = new Map<string, { transport: Transport; collect: boolean; expected: readonly string[] }>();
  private readonly collections = new Map<Transport, Consumption | undefined>();
  private readonly consumers = new Map<string, Consumer>();
  private writerNotify: Promise<void> | undefined;
  private writerNotifyAgain = false;

  constructor(options: HeraldOptions) {
    if (!options || typeof options.pool?.connect !== 'function') throw new ConfigError('createHerald: `pool` must be a pg Pool');
    this.context = validateSqlName('context', options.context);
    if (this.context.length > 48) throw new ConfigError(`createHerald: context '${this.context}' is longer than 48 characters`);
    this.pool = options.pool;
    guardPool(this.pool);
    this.schema = quoteIdent(this.context);
    this.channel = `herald_${this.context}`;
    this.logger = options.logger ?? silentLogger;
    this.leaseTtlMs = positive('leaseTtlMs', options.leaseTtlMs, 15_000);
    this.pollMs = positive('pollMs', options.pollMs, 500);
    this.processId = options.processId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.registry = buildRegistry(options.events ?? []);
    const sequencer = options.sequencer ?? true;
    this.sequencer = sequencer
      ? new Sequencer(this.pool, this.schema, this.channel, (head) => this.onLogAdvanced(head), this.logger, sequencer === true ? {} : sequencer)
      : undefined;
    this.waiters = new ConsistencyWaiters(this.pool, this.schema, () => hintSequencers(this.context));
    this.parked = new ParkedEvents(this.pool, this.schema, this.channel);
    this.parkedMessages = new ParkedMessages(this.pool, this.schema, this.channel);
    this.subscriptions = new SubscriptionControl(this.pool, this.schema, this.channel);
    this.inbox = new Inbox(this.pool, this.schema, this.logger, options.inbox);
    this.deliveries = new DeliveryJournal(this.pool, this.schema, this.context, this.logger, options.deliveries);
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

  private runnerHooks(): RunnerHooks {
    return {
      progress: () => this.waiters.poke(),
      attemptFailed: (info) => {
        this.logger.warn(
          { subscription: info.subscription, eventNumber: info.event.metadata.eventNumber, attempt: info.failure.attempt, action: info.action.action, err: info.error },
          'herald: handler failed',
        );
        this.emit('attemptFailed', info);
      },
      eventParked: (info) => {
        this.logger.error({ subscription: info.subscription, eventNumber: info.event.metadata.eventNumber, reason: info.reason }, 'herald: event parked');
        this.emit('eventParked', info);
      },
      eventSkipped: (info) => this.emit('eventSkipped', info),
      parkedRetried: (info) => this.emit('parkedRetried', info),
      eventAlreadySeen: (info) => this.emit('eventAlreadySeen', info),
      subscriptionStopped: (info) => this.emit('subscriptionStopped', info),
    };
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
    const [tx, streamId, events, options = {}] = args as [SqlExecutor, string, NewEvent | readonly NewEvent[], AppendOptions | undefined];
    if (!tx || typeof tx.query !== 'function') throw new InvalidArgumentError('tx', 'pass a pg client (or SqlExecutor) or a stream id');
    validateStreamId(streamId);
    const scope = this.scopes.get(tx);
    const strong = options.consistency === 'strong';
    if (strong && !scope) throw new ConsistencyOutsideTransactionError();
    if (options.consistency !== undefined && options.consistency !== 'strong' && options.consistency !== 'eventual') {
      throw new InvalidArgumentError('consistency', `${JSON.stringify(options.consistency)}; use 'eventual' or 'strong'`);
    }
    const timeoutMs = positive('consistencyTimeoutMs', options.consistencyTimeoutMs, DEFAULT_CONSISTENCY_TIMEOUT_MS);
    const prepared = await prepareEvents(Array.isArray(events) ? events : [events as NewEvent], options, this.registry);
    const result = await appendToStream(tx, this.schema, streamId, prepared, options.expectedVersion ?? 'any');
    if (scope) {
      scope.appended = true;
      if (strong) scope.strong.push({ eventIds: [...result.eventIds], timeoutMs });
    } else {
      // A caller-owned transaction: we cannot see its commit, so make the sequencer look soon and often.
      hintSequencers(this.context, false);
    }
    return result;
  }

  /**
   * Runs `fn` in a transaction on a pooled client: commits when it resolves, rolls back when it
   * throws. Resolves after the commit — and, for strong appends made inside, after every strong
   * subscription handled them (or rejects with `ConsistencyTimeoutError`; the commit stands).
   */
  async transaction<T>(fn: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
    const scope: TransactionScope = { appended: false, strong: [] };
    const result = await transaction(this.pool, async ({ client }) => {
      this.scopes.set(client, scope);
      try {
        return await fn(client);
      } finally {
        this.scopes.delete(client);
      }
    });
    if (scope.appended) this.committed();
    for (const wait of scope.strong) await this.waiters.wait(wait.eventIds, wait.timeoutMs);
    return result;
  }

  /**
   * Waits until every strong subscription has handled the events of an append made with the
   * default consistency in a transaction Herald did not own. Call it after your commit.
   */
  waitForConsistency(result: AppendResult, options: { timeoutMs?: number } = {}): Promise<void> {
    hintSequencers(this.context);
    return this.waiters.wait(result.eventIds, positive('timeoutMs', options.timeoutMs, DEFAULT_CONSISTENCY_TIMEOUT_MS));
  }

  /** A stream's events after `afterVersion` (default: all), in version order. */
  readStream(streamId: string, afterVersion = 0): Promise<RecordedEvent[]> {
    return readStream(this.pool, this.schema, validateStreamId(streamId), afterVersion);
  }

  /** Sequenced events after `afterEventNumber`, in log order. */
  readLog(afterEventNumber = 0, limit = 1000): Promise<RecordedEvent[]> {
    return readLog(this.pool, this.schema, afterEventNumber, limit);
  }

  /** Registers a durable subscription on this log. Starts it at once if the log is started. */
  subscribe(definition: SubscriptionDefinition): this {
    const name = validateSubscriptionName(definition?.name);
    if (typeof definition.handle !== 'function') throw new ConfigError(`subscription '${name}': handle must be a function`);
    validateStartFrom(name, definition.startFrom);
    if (definition.consistency !== undefined && definition.consistency !== 'strong' && definition.consistency !== 'eventual') {
      throw new ConfigError(`subscription '${name}': consistency must be 'eventual' or 'strong'`);
    }
    if (definition.parking !== undefined && definition.parking !== 'stream' && definition.parking !== 'subscription') {
      throw new ConfigError(`subscription '${name}': parking must be 'stream' or 'subscription'`);
    }
    if (definition.onError !== undefined && typeof definition.onError !== 'function') {
      throw new ConfigError(`subscription '${name}': onError must be a function`);
    }
    positive(`subscription '${name}': handlerTimeoutMs`, definition.handlerTimeoutMs, 1);
    positive(`subscription '${name}': batchSize`, definition.batchSize, 1);
    if (this.runners.has(name)) throw new DuplicateSubscriptionError(name);
    const lease = new Lease(this.pool, `${this.schema}.subscriptions`, name, this.processId, this.leaseTtlMs, this.channel);
    const runner = new SubscriptionRunner(
      definition,
      this.pool,
      this.schema,
      lease,
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
    const definition = relaySubscription(this.context, options, { pool: this.pool, schema: this.schema });
    this.subscribe(definition);
    const entry = { transport: options.transport, collect: options.collectAcknowledgements ?? true, expected: options.expectedConsumers ?? [] };
    this.relays.set(definition.name, entry);
    if (this.started) void this.startRelayExtras(entry).catch((error) => this.logger.error({ err: error }, 'herald: relay start failed'));
    const runner = this.runners.get(definition.name)!;
    return { name: definition.name, health: () => runner.health() };
  }

  /**
   * Consumes another context's events from a broker into this context's database (exactly-once
   * effect through the inbox; see {@link ConsumerDefinition}). Starts with the log; the returned
   * {@link Consumer} has the operator API for its parked messages.
   */
  consume<const Events extends readonly EventDefinition[] = readonly EventDefinition[]>(definition: ConsumerDefinition<Events>): Consumer {
    const consumer = new Consumer(this.pool, this.schema, this.logger, definition as unknown as ConsumerDefinition, this.parkedMessages, {
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

  private async startRelayExtras(entry: { transport: Transport; collect: boolean; expected: readonly string[] }): Promise<void> {
    await this.deliveries.expect(entry.expected);
    if (!entry.collect || this.collections.has(entry.transport)) return;
    this.collections.set(entry.transport, undefined);
    // Acknowledgements are not worth holding the relay back for: while the broker is
    // unreachable, keep trying in the background.
    void (async () => {
      for (let backoff = 100; this.started && this.collections.has(entry.transport); backoff = Math.min(backoff * 2, 5000)) {
        try {
          const consumption = await this.deliveries.collect(entry.transport);
          if (this.started && this.collections.has(entry.transport)) this.collections.set(entry.transport, consumption);
          else await consumption.close();
          return;
        } catch (error) {
          this.logger.warn({ err: error }, 'herald: cannot collect delivery acknowledgements yet, retrying');
          await new Promise((resolve) => setTimeout(resolve, backoff));
        }
      }
    })();
  }

  /**
   * Starts the sequencer, the notification listener and every subscription. Resolves when each
   * subscription runs here or stands by for another process; rejects with
   * `SubscriptionInitError` if an `init()` failed (that subscription is marked failed, the rest run).
   */
  async start(overrides: { startFrom?: Record<string, StartFrom> } = {}): Promise<void> {
    if (this.started) return;
    await this.assertMigrated();
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
    for (const entry of this.relays.values()) await this.startRelayExtras(entry);
    for (const consumer of this.consumers.values()) await consumer.start();
    const results = await Promise.allSettled([...this.runners.values()].map((r) => this.startRunner(r, overrides.startFrom?.[r.name])));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Stops gracefully: each subscription finishes its batch in hand and releases its lease. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await Promise.all([...this.consumers.values()].map((c) => c.stop()));
    await Promise.all([...this.collections.values()].map((c) => c?.close()));
    this.collections.clear();
    await Promise.all([...this.runners.values()].map((r) => r.stop()));
    if (this.sequencer) runningSequencers.get(this.context)?.delete(this.sequencer);
    await this.sequencer?.stop();
    await this.listener?.stop();
    await this.inbox.stop();
    await this.writerNotify;
  }

  /** Head of the log, open appends, and every subscription's position, lag, state and lease holder (all processes). */
  async status(): Promise<LogStatus> {
    const head = await readHead(this.pool, this.schema);
    const { rows } = await this.pool.query<{ n: string }>(`SELECT (SELECT count(*) FROM ${this.schema}.log_head h JOIN ${this.schema}.events e ON e.id > h.sequenced_through) + (SELECT count(*) FROM ${this.schema}.log_head h, unnest(h.holes + h.recent_holes) r JOIN ${this.schema}.events e ON e.id >= lower(r) AND e.id < upper(r)) AS n`);
    return {
      context: this.context,
      head,
      unsequenced: Number(rows[0]?.n ?? 0),
      openAppends: await readOpenAppends(this.pool, this.context),
      subscriptions: await readSubscriptionStatus(this.pool, this.schema, head),
      relays: [...this.relays.keys()].map((name) => {
        const runner = this.runners.get(name)!;
        return { name, active: runner.active, ...runner.health() };
      }),
      consumers: await Promise.all([...this.consumers.values()].map((c) => c.status())),
      deliveries: await this.deliveries.status(head),
    };
  }

  private async startRunner(runner: SubscriptionRunner, startFrom?: StartFrom): Promise<void> {
    const definition = runner.definition;
    const from = startFrom ?? definition.startFrom ?? 'origin';
    validateStartFrom(runner.name, from);
    const position = from === 'origin' ? 0 : from === 'current' ? await this.currentHead() : from;
    await this.pool.query(
      `INSERT INTO ${this.schema}.subscriptions (name, position, consistency) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET consistency = EXCLUDED.consistency`,
      [runner.name, position, definition.consistency ?? 'eventual'],
    );
    await runner.start();
  }

  private async currentHead(): Promise<number> {
    await this.sequencer?.drain();
    return readHead(this.pool, this.schema);
  }


  private async assertMigrated(): Promise<void> {
    const latest = migrations[migrations.length - 1]!.version;
    const { rows: found } = await this.pool.query<{ table: string | null }>('SELECT to_regclass($1)::text AS table', [
      `${this.schema}.schema_migrations`,
    ]);
    const { rows } = found[0]?.table
      ? await this.pool.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${this.schema}.schema_migrations`)
      : { rows: [] };
    const version = rows[0]?.version ?? 0;
    if (version < latest) {
      throw new ConfigError(`context '${this.context}' is at schema version ${version}, needs ${latest}: call herald.migrate() first`);
    }
  }

  /** After a commit that appended: wake the local sequencer, or a remote one by notification. */
  private committed(): void {
    if (hintSequencers(this.context)) return;
    // Coalesce: at most one NOTIFY in flight, one more if commits happened meanwhile.
    if (this.writerNotify) {
      this.writerNotifyAgain = true;
      return;
    }
    this.writerNotify = (async () => {
      do {
        this.writerNotifyAgain = false;
        await this.pool.query('SELECT pg_notify($1, $2)', [this.channel, 'w']).catch((error) => {
          this.logger.warn({ err: error }, 'herald: writer notification failed (the sequencer will poll)');
        });
      } while (this.writerNotifyAgain);
      this.writerNotify = undefined;
    })();
  }

  private onNotification(payload: string): void {
    if (payload === 'w') this.sequencer?.hint();
    else if (payload.startsWith('s')) {
      const head = Number(payload.slice(1));
      if (Number.isSafeInteger(head) && head > 0) this.onLogAdvanced(head);
      else this.recheckAll();
    }
    else if (payload === 'c') this.waiters.poke();
    else if (payload === 'p' || payload === 'r') for (const runner of this.runners.values()) runner.nudge();
    else if (payload === 'x') {
      for (const runner of this.runners.values()) {
        // An operator restarted a failed subscription: the process it failed in takes it again (standbys are nudged).
        if (runner.phase === 'failed') void this.startRunner(runner).catch((error) => this.logger.warn({ err: error, subscription: runner.name }, 'herald: restart failed'));
        else runner.nudge();
      }
    }
    else if (payload === 'm') for (const consumer of this.consumers.values()) consumer.nudge();
  }

  private recheckAll(): void {
    for (const runner of this.runners.values()) runner.recheck();
    this.waiters.poke();
  }

  private onLogAdvanced(head: number): void {
    for (const runner of this.runners.values()) runner.logAdvanced(head);
    this.waiters.poke();
  }
}

/** Creates a {@link Herald} for one bounded context. */
export function createHerald(options: HeraldOptions): Herald {
  return new Herald(options);
}

function buildRegistry(events: readonly EventDefinition[]): Map<string, EventDefinition> {
  const registry = new Map<string, EventDefinition>();
  for (const definition of events) {
    if (registry.has(definition.type) && registry.get(definition.type) !== definition) {
      throw new ConfigError(`two event definitions share the type '${definition.type}'`);
    }
    registry.set(definition.type, definition);
  }
  return registry;
}

function validateStartFrom(name: string, from: unknown): void {
  if (from === undefined || from === 'origin' || from === 'current') return;
  if (typeof from === 'number' && Number.isSafeInteger(from) && from >= 0) return;
  throw new ConfigError(`subscription '${name}': startFrom must be 'origin', 'current' or a whole number ≥ 0, got ${JSON.stringify(from)}`);
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigError(`${name} must be a positive number of milliseconds, got ${JSON.stringify(value)}`);
  }
  return value;
}
