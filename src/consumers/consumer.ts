import type pg from 'pg';
import { describe, HandlerTimeoutError, MalformedMessageError } from '../errors.js';
import type { EventDefinition } from '../events/define.js';
import type { Logger } from '../runtime/logger.js';
import { Wakeup } from '../runtime/wakeup.js';
import { Watchdog } from '../runtime/watchdog.js';
import { decodeCloudEvent, type ReceivedEvent } from '../transports/cloudevents.js';
import type { Consumption, Delivery } from '../transports/transport.js';
import { decideGap } from './arrival.js';
import { type ConsumerDefinition, consumerSettings, type ConsumerSettings, type ConsumerStatus } from './definition.js';
import { HandlerFailed, type HandlingHooks, type Incoming, MessageHandling, type Outcome } from './handling.js';
import type { MessageFilter, MessageRef, MessageRequestOutcome, ParkedMessage, ParkedMessages } from './operator.js';
import { ReceiptSender } from './receipts.js';
import { StreamWork } from './stream-work.js';
import { type StoredMessage, StoredMessages } from './stored.js';
import { ConsumerStreams } from './streams.js';

/** What a consumer reports as it runs (Herald turns these into its events). */
export interface ConsumerHooks extends Pick<HandlingHooks, 'attemptFailed' | 'telemetry'> {
  duplicateDropped(info: { consumer: string; eventId: string; eventNumber: number }): void;
  messageParked(info: { consumer: string; key: string; reason: string }): void;
  consumerStopped(info: { consumer: string; reason: string }): void;
}

/** Outcomes after which the stream moved on, so held messages behind it may be next. */
const MOVED: ReadonlySet<Outcome> = new Set(['handled', 'already-seen', 'ignored', 'duplicate', 'skipped']);

/**
 * Consumes a sending context's events from a broker into this context's database, with
 * exactly-once effect: each message is handled in a transaction that also records it in the
 * inbox, moves its stream's position and writes a receipt for the sender; the broker ack comes
 * after the commit. Failures are stored (scheduled for a retry, or parked) before the ack, so a
 * restart loses neither the message nor its attempt count. Due retries, operators' requests and
 * held messages are carried out by whichever process runs the consumer (see {@link ConsumerDefinition}).
 */
export class Consumer {
  readonly name: string;
  readonly source: string;
  private readonly settings: ConsumerSettings;
  private readonly stored: StoredMessages;
  private readonly handling: MessageHandling;
  private readonly receipts: ReceiptSender;
  private readonly work: StreamWork;
  private readonly sweepWakeup = new Wakeup();
  private consumption: Consumption | undefined;
  private running = false;
  private stoppedBy: string | null = null;
  private sweeper: Promise<void> | undefined;
  private readonly buffer: Incoming[] = [];
  private readonly deliveries = new WeakMap<Incoming, Delivery>();
  private dispatching = false;
  /** Sweeper jobs queued or running, by what they do: a job is not queued twice. */
  private readonly sweepJobs = new Set<string>();
  private health = { healthy: true, lastError: null as string | null };
  private readonly counters = { handled: 0, alreadySeen: 0, duplicates: 0, held: 0, failedAttempts: 0, parked: 0 };
  private readonly ignoredUnknown: Record<string, number> = {};

  constructor(
    private readonly pool: pg.Pool,
    schema: string,
    private readonly logger: Logger,
    definition: ConsumerDefinition,
    private readonly operator: ParkedMessages,
    private readonly hooks: ConsumerHooks,
  ) {
    this.settings = consumerSettings(definition);
    this.name = this.settings.name;
    this.source = this.settings.source;
    const streams = new ConsumerStreams(schema, this.name, this.source);
    this.stored = new StoredMessages(schema, this.name, this.source);
    this.handling = new MessageHandling(pool, schema.slice(1, -1), this.settings, streams, this.stored, new Watchdog(this.settings.handlerTimeoutMs), logger, {
      telemetry: hooks.telemetry,
      settled: (incoming, outcome, detail) => this.count(incoming, outcome, detail),
      attemptFailed: (info) => {
        this.counters.failedAttempts++;
        this.logger.warn({ consumer: this.name, eventId: info.event.metadata.eventId, attempt: info.failure.attempt, action: info.action.action, err: info.error }, 'herald: consumer handler failed');
        this.hooks.attemptFailed(info);
      },
    });
    this.receipts = new ReceiptSender(pool, streams, this.settings, logger);
    this.work = new StreamWork(this.settings.concurrency, (error) => this.unhealthy(error));
  }

  /** Starts receiving. Resolves once the broker consumption is set up (or failed once: it keeps trying, unhealthy). */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.stoppedBy = null;
    if (!(await this.subscribe())) this.work.track(this.keepSubscribing());
    this.receipts.start();
    this.sweeper = this.sweepLoop();
  }

  /** Stops receiving, lets the messages in hand finish, and sends the last receipts. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.sweepWakeup.notify();
    // Settle what is in hand before closing: on RabbitMQ, acks sent after the close are lost.
    // Deliveries arriving meanwhile are given back (nack) by the dispatcher.
    await this.work.idle();
    await this.consumption?.close();
    await this.work.idle();
    await this.sweeper;
    await this.receipts.stop();
  }

  /** Something was requested (an operator's retry or skip): look for due work now. */
  nudge(): void {
    this.sweepWakeup.notify();
  }

  async status(): Promise<ConsumerStatus> {
    const counts = await this.stored.counts(this.pool);
    const transport = this.settings.transport.health();
    return {
      name: this.name,
      source: this.source,
      running: this.running,
      healthy: this.health.healthy && transport.connected && this.stoppedBy === null,
      lastError: this.stoppedBy ?? this.health.lastError ?? transport.lastError,
      stoppedBy: this.stoppedBy,
      ...this.counters,
      heldCount: this.counters.held,
      parkedCount: this.counters.parked,
      ignoredUnknown: { ...this.ignoredUnknown },
      held: counts.held,
      scheduled: counts.scheduled,
      parked: counts.parked,
      unsentReceipts: counts.receipts,
    };
  }

  /** Operator API for this consumer's stored messages; the same requests as `herald.parkedMessages`, for this consumer. */
  readonly messages = {
    /** Stored messages (parked and scheduled by default), oldest first. */
    list: (filter: Omit<MessageFilter, 'consumer'> = {}, page: { limit?: number; after?: MessageRef } = {}): Promise<ParkedMessage[]> =>
      this.operator.list({ ...filter, consumer: this.name }, page),
    /**
     * Asks for a retry of a parked (or scheduled) message and waits for the outcome. A message
     * parked because an earlier version never arrived is handled accepting the gap.
     */
    retry: (key: string, options: { timeoutMs?: number } = {}): Promise<MessageRequestOutcome> =>
      this.operator.retry(this.name, key, { wait: true, ...options }),
    /** Gives up on a parked message: its stream moves past it (it counts as acknowledged to the sender). */
    skip: (key: string, reason = 'skipped by operator', options: { timeoutMs?: number } = {}): Promise<MessageRequestOutcome> =>
      this.operator.skip(this.name, key, reason, { wait: true, ...options }),
  };

  // ---------------------------------------------------------------- receiving

  private async subscribe(): Promise<boolean> {
    try {
      const consumption = await this.settings.transport.consume(
        { channel: 'events', source: this.source, group: this.name, prefetch: this.settings.prefetch },
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
      await this.sweepWakeup.wait(backoff);
      if (this.running && (await this.subscribe())) return;
    }
  }

  private receive(delivery: Delivery): void {
    const incoming = this.decode(delivery);
    this.deliveries.set(incoming, delivery);
    if (!incoming.event) {
      this.work.track(this.settleFresh(incoming, delivery));
      return;
    }
    this.buffer.push(incoming);
    this.dispatch();
  }

  private decode(delivery: Delivery): Incoming {
    const base = { body: delivery.body, brokerId: delivery.brokerId, origin: 'broker' as const };
    try {
      const event = decodeCloudEvent(delivery.body);
      if (event.metadata.source !== this.source) throw new MalformedMessageError(`sent by context '${event.metadata.source}', this consumer reads '${this.source}'`, event.type);
      return { ...base, key: event.metadata.eventId, event };
    } catch (error) {
      // Broker ids are not unique everywhere (an AMQP delivery tag restarts per channel): add the body's hash.
      return { ...base, key: `broker:${delivery.brokerId}:${StreamWork.hash(delivery.body)}`, event: undefined, malformed: describe(error) };
    }
  }

  /** Hands buffered deliveries to {@link runBatch}, one batch at a time, while any are waiting. */
  private dispatch(): void {
    if (this.dispatching || this.buffer.length === 0) return;
    this.dispatching = true;
    this.work.track(
      (async () => {
        try {
          while (this.buffer.length > 0) {
            const batch = this.buffer.splice(0, this.settings.batchSize);
            if (!this.running) await Promise.all(batch.map((item) => this.deliveries.get(item)!.nack()));
            else await this.runBatch(batch);
          }
        } finally {
          this.dispatching = false;
        }
      })(),
    );
  }

  /**
   * Settles a batch in one transaction (one commit for many messages) and acks after the commit.
   * If anything fails, the batch rolls back and each message is settled on its own, in line with
   * its stream: a failing message then holds back only its own stream.
   */
  private async runBatch(batch: readonly Incoming[]): Promise<void> {
    let outcomes: Outcome[];
    try {
      outcomes = await this.handling.settleBatch(batch);
      this.recovered();
    } catch (error) {
      // A handler that timed out abandoned the batch: its failure is recorded, and it is not run
      // again at once (its abandoned call may still be running). The others are settled one by one.
      const timedOut = error instanceof HandlerFailed && error.error instanceof HandlerTimeoutError ? error.error : undefined;
      for (const item of batch) {
        const delivery = this.deliveries.get(item)!;
        const job = timedOut?.eventNumber === item.event!.metadata.eventNumber ? () => this.settleTimedOut(item, delivery, timedOut) : () => this.settleFresh(item, delivery);
        this.work.track(this.work.onStream(item.event!.metadata.streamId, job));
      }
      return;
    }
    await Promise.all(batch.map((item) => this.deliveries.get(item)!.ack()));
    if (this.settings.ordering !== 'stream') return;
    const moved = new Set(batch.filter((_, i) => MOVED.has(outcomes[i]!)).map((item) => item.event!.metadata.streamId));
    for (const streamId of moved) this.work.track(this.work.onStream(streamId, () => this.drainHeld(streamId)));
  }

  /** Settles one delivery, retrying database failures with backoff; acks once its outcome is stored, nacks if stopped first. */
  private async settleFresh(incoming: Incoming, delivery: Delivery): Promise<void> {
    const outcome = await this.settleWithRetry(incoming);
    if (outcome === undefined) return delivery.nack();
    await delivery.ack();
    await this.after(incoming, outcome);
  }

  private async settleTimedOut(incoming: Incoming, delivery: Delivery, error: HandlerTimeoutError): Promise<void> {
    let outcome: Outcome;
    try {
      outcome = await this.handling.settleTimedOut(incoming, error);
    } catch (dbError) {
      this.unhealthy(dbError);
      return this.settleFresh(incoming, delivery);
    }
    await delivery.ack();
    await this.after(incoming, outcome);
  }

  private async settleWithRetry(incoming: Incoming): Promise<Outcome | undefined> {
    for (let backoff = 100; this.running; backoff = Math.min(backoff * 2, 5000)) {
      try {
        const outcome = await this.handling.settle(incoming);
        this.recovered();
        return outcome;
      } catch (error) {
        this.unhealthy(error);
        await this.sweepWakeup.wait(backoff);
      }
    }
    return undefined;
  }

  /** What follows an outcome: replay held messages of a stream that moved, wake the sweeper for a retry, or stop. */
  private async after(incoming: Incoming, outcome: Outcome): Promise<void> {
    if (outcome === 'scheduled') this.sweepWakeup.notify();
    if (outcome === 'stopped') return this.stopByPolicy(incoming);
    const streamId = incoming.event?.metadata.streamId;
    if (streamId && MOVED.has(outcome)) await this.drainHeld(streamId);
  }

  private async stopByPolicy(incoming: Incoming): Promise<void> {
    const reason = `stopped by its error policy at message ${incoming.key}`;
    this.stoppedBy = reason;
    this.logger.error({ consumer: this.name, reason }, 'herald: consumer stopped by its error policy');
    this.hooks.consumerStopped({ consumer: this.name, reason });
    void this.stop();
  }

  // ---------------------------------------------------------------- stored work

  /** Replays the held messages of a stream that are next in line, one at a time, in version order. */
  private async drainHeld(streamId: string): Promise<void> {
    if (this.settings.ordering !== 'stream') return;
    while (this.running) {
      await this.stored.reopenClosedGaps(this.pool, streamId);
      const held = await this.stored.nextHeld(this.pool, streamId);
      if (!held) return;
      const incoming = this.fromStored(held);
      const outcome = await this.settleWithRetry(incoming);
      if (outcome === undefined || !MOVED.has(outcome)) {
        if (outcome === 'scheduled') this.sweepWakeup.notify();
        if (outcome === 'stopped') await this.stopByPolicy(incoming);
        return;
      }
    }
  }

  /**
   * The sweeper: one loop per consumer that replays held messages whose turn came, parks those
   * whose gap did not close in time, and carries out due retries and operators' requests. It
   * wakes on its interval, at the next retry's due time, or when notified.
   */
  private async sweepLoop(): Promise<void> {
    while (this.running) {
      let wait = this.settings.sweepEveryMs;
      try {
        await this.sweep();
        wait = Math.min(wait, (await this.stored.msUntilNextRetry(this.pool)) ?? wait);
      } catch (error) {
        this.unhealthy(error);
      }
      if (this.running) await this.sweepWakeup.wait(wait);
    }
  }

  /** Queues what is due; does not wait for it (a stream's job may wait behind that stream's other work). */
  private async sweep(): Promise<void> {
    const run = (what: string, streamId: string, job: () => Promise<void>) => {
      if (this.sweepJobs.has(what)) return;
      this.sweepJobs.add(what);
      this.work.track(this.work.onStream(streamId, job).finally(() => this.sweepJobs.delete(what)));
    };
    for (const streamId of await this.stored.reopenClosedGaps(this.pool, null)) run(`drain:${streamId}`, streamId, () => this.drainHeld(streamId));
    for (const held of await this.stored.heldStreams(this.pool)) {
      const decision = decideGap(held.stream, held.heldVersion, held.waitedMs, this.settings.reorderWaitMs);
      if (decision.kind === 'ready') run(`drain:${held.streamId}`, held.streamId, () => this.drainHeld(held.streamId));
      else if (decision.kind === 'park') run(`gap:${held.streamId}`, held.streamId, () => this.parkGap(held.streamId, held.heldVersion));
    }
    for (const due of await this.stored.due(this.pool, 100)) run(`due:${due.key}`, due.streamId ?? `key:${due.key}`, () => this.settleDue(due.key));
  }

  /** A due retry or an operator's request on one stored message. */
  private async settleDue(key: string): Promise<void> {
    const stored = await this.stored.read(this.pool, key);
    if (!stored || !this.running) return;
    const outcome =
      stored.status === 'skip_requested'
        ? await this.handling.skip(stored)
        : stored.status === 'scheduled' || stored.status === 'retry_requested'
          ? await this.settleWithRetry(this.fromStored(stored))
          : undefined;
    if (outcome === undefined) return;
    await this.after(this.fromStored(stored), outcome);
  }

  private async parkGap(streamId: string, heldVersion: number): Promise<void> {
    if ((await this.handling.parkGap(streamId, heldVersion)) === 'ready') await this.drainHeld(streamId);
  }

  private fromStored(stored: StoredMessage): Incoming {
    const origin = stored.status === 'held' ? 'held' : stored.status === 'retry_requested' ? 'forced' : 'blocking';
    try {
      const event: ReceivedEvent = decodeCloudEvent(stored.body);
      return { key: stored.key, body: stored.body, brokerId: stored.brokerId, event, origin, stored };
    } catch (error) {
      return { key: stored.key, body: stored.body, brokerId: stored.brokerId, event: undefined, malformed: describe(error), origin, stored };
    }
  }

  // ---------------------------------------------------------------- figures

  private count(incoming: Incoming, outcome: Outcome, detail: { reason?: string; unknownType?: string }): void {
    const m = incoming.event?.metadata;
    if (outcome === 'handled') this.counters.handled++;
    else if (outcome === 'already-seen') this.counters.alreadySeen++;
    else if (outcome === 'duplicate') {
      this.counters.duplicates++;
      if (m && incoming.origin === 'broker') this.hooks.duplicateDropped({ consumer: this.name, eventId: m.eventId, eventNumber: m.eventNumber });
    } else if (outcome === 'held') this.counters.held++; else if (outcome === 'parked') {
      this.counters.parked++;
      this.hooks.messageParked({ consumer: this.name, key: incoming.key, reason: detail.reason ?? 'handler failed' });
    }
    if (detail.unknownType) this.ignoredUnknown[detail.unknownType] = (this.ignoredUnknown[detail.unknownType] ?? 0) + 1;
  }

  private unhealthy(error: unknown): void {
    if (this.health.healthy) this.logger.warn({ err: error, consumer: this.name }, 'herald: consumer cannot reach the database or the broker, retrying');
    this.health = { healthy: false, lastError: describe(error) };
  }

  private recovered(): void {
    if (!this.health.healthy) this.health = { healthy: true, lastError: this.health.lastError };
  }
}

export type { ConsumerDefinition, ConsumerStatus, EventDefinition };
