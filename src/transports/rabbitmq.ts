/**
 * RabbitMQ transport (AMQP 0-9-1, `amqplib`). Import it from `herald/transports/rabbitmq`; it is the
 * only module that loads `amqplib`, an optional peer dependency.
 *
 * Topology, per sending context and channel: one durable topic exchange; one durable queue per
 * consumer group, bound to it (by default with `#`, so the group receives every event type). The
 * routing key is the event type. Messages are persistent and published with publisher confirms.
 *
 * Semantics worth knowing:
 * - A group's queue exists from the first time that group consumed (or from the first publish when
 *   the group is listed in {@link RabbitMqOptions.declareGroups}). An exchange without a bound queue
 *   drops messages, and the broker still confirms them: messages published before a group's queue
 *   existed never reach that group.
 * - With `singleActiveConsumer` (the default) the broker delivers a queue to one consumer at a
 *   time; other processes of the group stand by and take over when it goes away, so the queue's
 *   order is kept. Without it, processes share the queue round-robin and order across them is lost.
 * - A `nack()` requeues the message at (or near) the head of the queue: it is delivered again soon.
 *
 * `health()`: `connected` is true while the publisher connection (once used) and every running
 * consumption's connection are open; `lastError` is the most recent problem, kept after recovery.
 */
import { hostname } from 'node:os';
import { connect } from 'amqplib';
import type { Channel as AmqpChannel, ChannelModel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import { describe, TransportError } from '../errors.js';
import type { Logger } from '../runtime/logger.js';
import type { Channel, ConsumeOptions, Consumption, Delivery, OutgoingMessage, Transport, TransportHealth } from './transport.js';
import { Backoff, closeConsumptions, handOver, positiveOption, Problems, redact, startConsumption } from './support.js';

const KIND = 'rabbitmq';
const CONTENT_TYPE = 'application/cloudevents+json';

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

interface Settings {
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

/** The publishing connection: one confirm channel, plus what was declared on it. */
interface Publisher {
  readonly connection: ChannelModel;
  readonly channel: ConfirmChannel;
  /** Exchanges (and `queue:<name>`) already declared on this connection. */
  readonly declared: Set<string>;
  /** Called once with the reason when the channel or connection goes away. */
  readonly onLost: Set<(reason: Error) => void>;
  /** Why it went away; `undefined` while open. */
  lostReason: Error | undefined;
}

/**
 * A transport over RabbitMQ. Connects lazily: the publisher on the first `publish()`, each
 * consumption on its own connection (so a publisher blocked by flow control never delays acks).
 *
 * @example
 * ```ts
 * import { rabbitmq } from 'herald/transports/rabbitmq';
 * const transport = rabbitmq({ url: process.env.AMQP_URL });
 * ```
 */
export function rabbitmq(options: RabbitMqOptions = {}): Transport {
  return new RabbitMqTransport(resolve(options));
}

function resolve(options: RabbitMqOptions): Settings {
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

class RabbitMqTransport implements Transport {
  readonly kind = KIND;
  private publisher: Publisher | undefined;
  private connecting: Promise<Publisher> | undefined;
  private readonly consumptions = new Set<RabbitMqConsumption>();
  private readonly problems: Problems;
  /** Set by the first publish: from then on, health counts the publisher connection. */
  private publishing = false;
  private closed = false;

  constructor(private readonly settings: Settings) {
    this.problems = new Problems(KIND, settings.logger);
  }

  async publish(channel: Channel, messages: readonly OutgoingMessage[]): Promise<void> {
    if (this.closed) throw new TransportError(KIND, 'transport is closed');
    if (messages.length === 0) return;
    this.publishing = true;
    let publisher: Publisher;
    try {
      publisher = await this.connectPublisher();
    } catch (error) {
      throw this.problems.failure(`cannot connect to ${redact(this.settings.url)}: ${describe(error)}`, error);
    }
    try {
      await this.declare(publisher, channel, messages);
      await this.send(publisher, channel, messages);
    } catch (error) {
      throw error instanceof TransportError ? error : this.problems.failure(`publish failed: ${describe(error)}`, error);
    }
  }

  async consume(options: ConsumeOptions, onDelivery: (delivery: Delivery) => void): Promise<Consumption> {
    if (this.closed) throw new TransportError(KIND, 'transport is closed');
    checkPrefetch(options.prefetch);
    const consumption = new RabbitMqConsumption(this.settings, options, onDelivery, (message) => {
      this.problems.last = message;
    });
    return startConsumption(this.consumptions, consumption);
  }

  health(): TransportHealth {
    const needed = [...this.consumptions].map((c) => c.connected);
    if (this.publishing) needed.push(this.publisher !== undefined && !this.publisher.lostReason);
    return { connected: needed.length > 0 && needed.every(Boolean), lastError: this.problems.last };
  }

  async close(): Promise<void> {
    this.closed = true;
    const connecting = this.connecting?.catch(() => undefined);
    await closeConsumptions(this.consumptions);
    const publisher = this.publisher ?? (await connecting);
    this.publisher = undefined;
    // Closing the connection closes the channel, which fails every pending confirm.
    if (publisher) await closeConnection(publisher.connection, this.settings.connectTimeoutMs);
  }

  private connectPublisher(): Promise<Publisher> {
    if (this.publisher && !this.publisher.lostReason) return Promise.resolve(this.publisher);
    this.connecting ??= this.openPublisher().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async openPublisher(): Promise<Publisher> {
    const connection = await connect(this.settings.url, { timeout: this.settings.connectTimeoutMs, clientProperties: clientProperties('publisher') });
    let channel: ConfirmChannel;
    try {
      connection.on('error', (error: unknown) => this.problems.note(`publisher connection error: ${describe(error)}`));
      channel = await connection.createConfirmChannel();
    } catch (error) {
      await closeConnection(connection, this.settings.connectTimeoutMs);
      throw error;
    }
    const publisher: Publisher = { connection, channel, declared: new Set(), onLost: new Set(), lostReason: undefined };
    const lose = (reason: Error) => {
      if (publisher.lostReason) return;
      publisher.lostReason = reason;
      for (const listener of publisher.onLost) listener(reason);
      publisher.onLost.clear();
      if (this.publisher === publisher) this.publisher = undefined;
      // A channel-level error (e.g. a missing exchange) leaves the connection open: drop it too,
      // the next publish starts over on a fresh connection.
      void closeConnection(connection, this.settings.connectTimeoutMs);
    };
    // amqplib emits 'error' before 'close' on the failing object; without a listener it would crash the process.
    channel.on('error', (error: unknown) => this.problems.note(`publisher channel error: ${describe(error)}`));
    channel.on('close', () => lose(new Error('channel closed')));
    connection.on('close', (error?: unknown) => lose(new Error(error ? `connection closed: ${describe(error)}` : 'connection closed')));
    connection.on('blocked', (reason: unknown) => this.problems.note(`broker blocked publishing: ${describe(reason)}`));
    if (this.closed) {
      lose(new Error('transport is closed'));
      throw new Error('transport is closed');
    }
    this.publisher = publisher;
    return publisher;
  }

  /** Declares each context's exchange (and the queues of `declareGroups`) once per connection. */
  private async declare(publisher: Publisher, channel: Channel, messages: readonly OutgoingMessage[]): Promise<void> {
    const { settings } = this;
    for (const source of new Set(messages.map((m) => m.source))) {
      const exchange = settings.exchange(source, channel);
      if (publisher.declared.has(exchange)) continue;
      await guard(publisher, publisher.channel.assertExchange(exchange, 'topic', { durable: true }));
      for (const group of settings.declareGroups(source, channel)) {
        await guard(publisher, declareQueue(publisher.channel, settings, settings.queue(source, group, channel), exchange));
      }
      publisher.declared.add(exchange);
    }
  }

  private async send(publisher: Publisher, channel: Channel, messages: readonly OutgoingMessage[]): Promise<void> {
    const { settings } = this;
    const confirms: Promise<void>[] = [];
    for (const m of messages) {
      let writable = true;
      const confirmed = new Promise<void>((resolve, reject) => {
        const options: Options.Publish = { persistent: true, messageId: m.id, contentType: CONTENT_TYPE, type: m.type };
        writable = publisher.channel.publish(settings.exchange(m.source, channel), settings.routingKey(m, channel), m.body, options, (err) =>
          // amqplib reports a broker nack as 'message nacked', a channel lost before the confirm as 'channel closed'.
          err ? reject(new Error(`message ${m.id} not confirmed: ${describe(err)}`)) : resolve(),
        );
      });
      // Rejections are observed by Promise.all below; this keeps an early exit from leaving them unhandled.
      confirmed.catch(() => undefined);
      confirms.push(confirmed);
      // publish() returning false means the socket buffer is full: wait for it to drain before writing more.
      if (!writable) await guard(publisher, new Promise<void>((resolve) => publisher.channel.once('drain', resolve)));
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new TransportError(KIND, `${messages.length} messages not confirmed within ${settings.confirmTimeoutMs} ms`)),
        settings.confirmTimeoutMs,
      );
    });
    try {
      await Promise.race([guard(publisher, Promise.all(confirms)), timeout]);
    } catch (error) {
      if (error instanceof TransportError) this.problems.note(error.message);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

}

/** Races `work` against the publisher going away, so nothing waits on a dead channel. */
function guard<T>(publisher: Publisher, work: Promise<T>): Promise<T> {
  if (publisher.lostReason) {
    work.catch(() => undefined);
    return Promise.reject(publisher.lostReason);
  }
  return new Promise<T>((resolve, reject) => {
    // A listener per call, removed when the work settles: a long-lived publisher accumulates nothing.
    publisher.onLost.add(reject);
    work.then(resolve, reject).finally(() => publisher.onLost.delete(reject));
  });
}

async function declareQueue(channel: AmqpChannel, settings: Settings, queue: string, exchange: string): Promise<void> {
  await channel.assertExchange(exchange, 'topic', { durable: true });
  await channel.assertQueue(queue, { durable: true, arguments: settings.queueArguments });
  for (const key of settings.bindingKeys) await channel.bindQueue(queue, exchange, key);
}

/** One channel's life inside a consumption: deliveries are settled on the channel they came from. */
interface Generation {
  readonly channel: AmqpChannel;
  alive: boolean;
}

/** A consumer group's consumption on its own connection, reconnecting with backoff until closed. */
class RabbitMqConsumption {
  private connection: ChannelModel | undefined;
  private generation: Generation | undefined;
  private closed = false;
  private reconnecting: Promise<void> | undefined;
  private readonly backoff: Backoff;
  private readonly queue: string;
  private readonly exchange: string;

  constructor(
    private readonly settings: Settings,
    private readonly options: ConsumeOptions,
    private readonly onDelivery: (delivery: Delivery) => void,
    private readonly onError: (message: string) => void,
  ) {
    this.queue = settings.queue(options.source, options.group, options.channel);
    this.exchange = settings.exchange(options.source, options.channel);
    this.backoff = new Backoff(settings.reconnectInitialMs, settings.reconnectMaxMs);
  }

  get connected(): boolean {
    return this.generation?.alive === true;
  }

  /** The first connection: failures reject, so a misconfiguration surfaces at once. */
  async start(): Promise<void> {
    try {
      await this.open();
    } catch (error) {
      const message = `cannot consume ${this.queue}: ${describe(error)}`;
      this.note(message);
      throw new TransportError(KIND, message, { cause: error });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.backoff.interrupt();
    await this.reconnecting;
    const { connection, generation } = this;
    this.connection = undefined;
    if (generation?.alive) {
      generation.alive = false;
      // Close the channel before the connection: frames of one channel reach the broker in order,
      // so every ack written before is processed. Connection.Close travels on channel 0 and can
      // overtake acks still buffered on this channel, which would then be redelivered.
      await within(generation.channel.close(), this.settings.connectTimeoutMs);
    }
    if (connection) await closeConnection(connection, this.settings.connectTimeoutMs);
  }

  private async open(): Promise<void> {
    const { settings, options } = this;
    const connection = await connect(settings.url, {
      timeout: settings.connectTimeoutMs,
      clientProperties: clientProperties(`${options.source}/${options.group}`),
    });
    connection.on('error', (error: unknown) => this.note(`consumer connection error (${this.queue}): ${describe(error)}`));
    let generation: Generation | undefined;
    const lost = (why: string) => {
      if (generation && !generation.alive) return;
      if (generation) generation.alive = false;
      void closeConnection(connection, settings.connectTimeoutMs);
      if (this.closed || this.connection !== connection) return;
      this.note(`consumer of ${this.queue} lost: ${why}; reconnecting`);
      this.connection = undefined;
      this.reconnecting ??= this.reconnect().finally(() => {
        this.reconnecting = undefined;
      });
    };
    connection.on('close', (error?: unknown) => lost(error ? describe(error) : 'connection closed'));
    try {
      const channel = await connection.createChannel();
      channel.on('error', (error: unknown) => this.note(`consumer channel error (${this.queue}): ${describe(error)}`));
      generation = { channel, alive: true };
      channel.on('close', () => lost('channel closed'));
      await declareQueue(channel, settings, this.queue, this.exchange);
      await channel.prefetch(options.prefetch);
      if (this.closed) throw new Error('consumption closed');
      const current = generation;
      await channel.consume(
        this.queue,
        (message) => {
          // null: the broker cancelled the consumer (queue deleted, node shutting down).
          if (message === null) lost('consumer cancelled by the broker');
          else this.deliver(current, message);
        },
        { noAck: false },
      );
      // Only now does a loss start a reconnect: before, the failure rejects this attempt instead.
      // (A close that arrived in the same socket read as consume-ok already ran `lost`: check.)
      if (!generation.alive) throw new Error('connection lost while subscribing');
      this.connection = connection;
      this.generation = generation;
      if (this.closed) throw new Error('consumption closed');
    } catch (error) {
      if (generation) generation.alive = false;
      if (this.connection === connection) this.connection = undefined;
      await closeConnection(connection, settings.connectTimeoutMs);
      throw error;
    }
  }

  private async reconnect(): Promise<void> {
    this.backoff.reset();
    while (!this.closed) {
      await this.backoff.wait();
      if (this.closed) return;
      try {
        await this.open();
        this.settings.logger?.info({ transport: KIND, queue: this.queue }, 'consumer reconnected');
        return;
      } catch (error) {
        if (this.closed) return;
        this.note(`reconnecting consumer of ${this.queue} failed: ${describe(error)}`);
      }
    }
  }

  private deliver(generation: Generation, message: ConsumeMessage): void {
    const settle = (ack: boolean): Promise<void> => {
      // A tag is only meaningful on its own channel; on a dead one the broker requeues the message anyway.
      if (!generation.alive) return Promise.resolve();
      try {
        if (ack) generation.channel.ack(message);
        else generation.channel.nack(message, false, true);
      } catch (error) {
        this.settings.logger?.debug({ transport: KIND, queue: this.queue, error: describe(error) }, 'settling on a closed channel; the broker redelivers');
      }
      return Promise.resolve();
    };
    const received = {
      body: message.content,
      brokerId: typeof message.properties.messageId === 'string' ? message.properties.messageId : String(message.fields.deliveryTag),
      redelivered: message.fields.redelivered,
    };
    handOver(received, settle, this.onDelivery, (error) => {
      this.settings.logger?.error({ transport: KIND, queue: this.queue, error: describe(error) }, 'onDelivery threw; message requeued');
    });
  }

  private note(message: string): void {
    this.onError(message);
    this.settings.logger?.warn({ transport: KIND, queue: this.queue }, message);
  }
}

/** Waits for `work` (ignoring its failure), but at most `ms`. */
async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/**
 * Closes a connection politely, but never waits longer than `ms` for the broker's answer (a
 * half-open TCP connection would otherwise hold shutdown until the heartbeat gives up).
 */
async function closeConnection(connection: ChannelModel, ms: number): Promise<void> {
  let answered = false;
  // A rejection means it was closed already.
  await within(connection.close().finally(() => (answered = true)), ms);
  if (!answered) (connection.connection as unknown as { stream?: { destroy(): void } }).stream?.destroy();
}

function clientProperties(role: string): Record<string, unknown> {
  return { connection_name: `herald ${role} ${hostname()}:${process.pid}` };
}

function checkPrefetch(prefetch: number): void {
  if (!Number.isInteger(prefetch) || prefetch < 1 || prefetch > 65_535) {
    throw new TransportError(KIND, `prefetch must be an integer from 1 to 65535, got ${prefetch}`);
  }
}


