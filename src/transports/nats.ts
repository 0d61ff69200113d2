/**
 * NATS JetStream transport (`@nats-io/transport-node` + `@nats-io/jetstream`). Import it from
 * `herald/transports/nats`; it is the only module that loads the NATS client, an optional peer
 * dependency. Works with nats-server 2.9 and later.
 *
 * Topology, per sending context: one stream for events (subjects `herald.<source>.>`, the last
 * token is the event type) and one for acks (subject `herald-acks.<source>`), file storage by
 * default; one durable pull consumer per consumer group, named after the group.
 *
 * Names are sanitised because NATS gives `.`, `*`, `>` and whitespace a meaning: in subject tokens
 * and consumer names every character outside `[A-Za-z0-9_-]` becomes `_` (type `order.placed` is
 * published on `herald.<source>.order_placed`); stream names are the sanitised source upper-cased
 * (`HERALD_ORDERS`, `HERALD_ORDERS_ACKS`). Distinct names that sanitise alike (`a.b` and `a_b`,
 * `Orders` and `orders` for streams) collide: pass `stream`/`subject`/`streamSubjects` to avoid it.
 *
 * Semantics worth knowing:
 * - The stream deduplicates by message id (`Nats-Msg-Id`) within `duplicateWindowMs`, so a batch
 *   published again after a lost PubAck is stored once.
 * - A new consumer group starts at the beginning of the stream (it sees history the stream keeps).
 * - The consumer's `max_ack_pending` is set to `prefetch`: the limit holds across every process of
 *   the group. Processes of one group share the consumer and receive interleaved messages, so order
 *   across processes is not kept; run one process per group where order matters.
 * - A delivery not settled within `ackWaitMs` is redelivered, unless this process is still alive:
 *   it tells the server it is still working on its unsettled deliveries every third of `ackWaitMs`.
 *   So `ackWaitMs` is how fast the deliveries of a dead process come back, not a handler timeout.
 * - `nack()` asks for an immediate redelivery.
 *
 * `health()`: `connected` is true while the shared connection is up (not reconnecting);
 * `lastError` is the most recent problem, kept after recovery.
 */
import { hostname } from 'node:os';
import { connect, nanos, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstreamManager,
  StorageType,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { describe, TransportError } from '../errors.js';
import type { Logger } from '../runtime/logger.js';
import type { Channel, ConsumeOptions, Consumption, Delivery, OutgoingMessage, Transport, TransportHealth } from './transport.js';
import { Backoff, checkPositiveInteger, closeConsumptions, handOver, positiveOption, Problems, startConsumption } from './support.js';

const KIND = 'nats';

/** Options of {@link nats}. Every function option must return the same value for the same input in every process. */
export interface NatsOptions {
  /** Server URL(s). Default `'127.0.0.1:4222'`. */
  readonly servers?: string | readonly string[];
  /** Stream of a context's channel. Default `HERALD_<SOURCE>` for events, `HERALD_<SOURCE>_ACKS` for acks (sanitised, upper case). */
  readonly stream?: (source: string, channel: Channel) => string;
  /** Subject a message is published on. Default `herald.<source>.<type>` for events, `herald-acks.<source>` for acks (sanitised). */
  readonly subject?: (message: OutgoingMessage, channel: Channel) => string;
  /**
   * Subjects of a stream Herald creates; they must cover every subject `subject` returns for that
   * context. Default `['herald.<source>.>']` for events, `['herald-acks.<source>']` for acks.
   */
  readonly streamSubjects?: (source: string, channel: Channel) => readonly string[];
  /** Window in which the stream drops a message whose id it already stored. Default 120 000 ms. */
  readonly duplicateWindowMs?: number;
  /** How long a delivery may stay unsettled once its process stopped confirming it is alive. Default 30 000 ms. */
  readonly ackWaitMs?: number;
  /** Storage of the streams Herald creates. Default `'file'`. Existing streams are used as they are. */
  readonly storage?: 'file' | 'memory';
  /** Replicas of the streams Herald creates (clustered JetStream). Default 1. */
  readonly replicas?: number;
  /** Connect, JetStream API and PubAck timeout. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Consumer restart backoff after an error: first delay and cap, doubling in between. Default 100 ms to 5000 ms. */
  readonly reconnectMs?: { readonly initial?: number; readonly max?: number };
  /** More connection options (credentials, TLS, `reconnectTimeWait`, …), applied over Herald's defaults. */
  readonly connection?: Partial<NodeConnectionOptions>;
  /** Where connection problems are reported. Default: nowhere. */
  readonly logger?: Logger;
}

interface Settings {
  readonly servers: string | string[];
  readonly stream: (source: string, channel: Channel) => string;
  readonly subject: (message: OutgoingMessage, channel: Channel) => string;
  readonly streamSubjects: (source: string, channel: Channel) => readonly string[];
  readonly duplicateWindowMs: number;
  readonly ackWaitMs: number;
  readonly storage: StorageType;
  readonly replicas: number;
  readonly timeoutMs: number;
  readonly reconnectInitialMs: number;
  readonly reconnectMaxMs: number;
  readonly connection: Partial<NodeConnectionOptions>;
  readonly logger: Logger | undefined;
}

/** A connection with its JetStream handles. */
interface Session {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
}

/** A NATS subject token / consumer name: every character outside `[A-Za-z0-9_-]` becomes `_`. */
function token(value: string): string {
  return value.replace(/[^A-Za-z0-9_-]/g, '_') || '_';
}

/**
 * A transport over NATS JetStream. One connection per transport, opened on first use and kept
 * (the client reconnects by itself); streams and consumers are created when missing.
 *
 * @example
 * ```ts
 * import { nats } from 'herald/transports/nats';
 * const transport = nats({ servers: process.env.NATS_URL });
 * ```
 */
export function nats(options: NatsOptions = {}): Transport {
  return new NatsTransport(resolve(options));
}

function resolve(options: NatsOptions): Settings {
  return {
    servers: typeof options.servers === 'string' ? options.servers : options.servers ? [...options.servers] : '127.0.0.1:4222',
    stream:
      options.stream ??
      ((source, channel) => `HERALD_${token(source).toUpperCase()}${channel === 'acks' ? '_ACKS' : ''}`),
    subject: options.subject ?? ((m, channel) => (channel === 'events' ? `herald.${token(m.source)}.${token(m.type)}` : `herald-acks.${token(m.source)}`)),
    streamSubjects:
      options.streamSubjects ?? ((source, channel) => (channel === 'events' ? [`herald.${token(source)}.>`] : [`herald-acks.${token(source)}`])),
    duplicateWindowMs: positiveOption(KIND, options.duplicateWindowMs, 120_000, 'duplicateWindowMs'),
    ackWaitMs: positiveOption(KIND, options.ackWaitMs, 30_000, 'ackWaitMs'),
    storage: options.storage === 'memory' ? StorageType.Memory : StorageType.File,
    replicas: positiveOption(KIND, options.replicas, 1, 'replicas'),
    timeoutMs: positiveOption(KIND, options.timeoutMs, 5000, 'timeoutMs'),
    reconnectInitialMs: positiveOption(KIND, options.reconnectMs?.initial, 100, 'reconnectMs.initial'),
    reconnectMaxMs: positiveOption(KIND, options.reconnectMs?.max, 5000, 'reconnectMs.max'),
    connection: options.connection ?? {},
    logger: options.logger,
  };
}

class NatsTransport implements Transport {
  readonly kind = KIND;
  private session: Session | undefined;
  private connecting: Promise<Session> | undefined;
  /** The client's own view: false between a 'disconnect' and the next 'reconnect'. */
  private linkUp = false;
  /** Streams known to exist (cleared when a publish fails, in case one was deleted). */
  private readonly streams = new Map<string, Promise<void>>();
  private readonly consumptions = new Set<NatsConsumption>();
  private readonly problems: Problems;
  private closed = false;

  constructor(private readonly settings: Settings) {
    this.problems = new Problems(KIND, settings.logger);
  }

  async publish(channel: Channel, messages: readonly OutgoingMessage[]): Promise<void> {
    if (this.closed) throw new TransportError(KIND, 'transport is closed');
    if (messages.length === 0) return;
    const session = await this.connect().catch((error: unknown) => {
      throw this.problems.failure(`cannot connect to ${String(this.settings.servers)}: ${describe(error)}`, error);
    });
    // While the client reconnects it would buffer the publishes and let every PubAck time out; fail now instead.
    if (!this.linkUp) throw this.problems.failure('not connected (the client is reconnecting)', undefined);
    const { settings } = this;
    try {
      await Promise.all([...new Set(messages.map((m) => m.source))].map((source) => this.ensureStream(session, source, channel)));
    } catch (error) {
      throw this.problems.failure(`cannot ensure stream: ${describe(error)}`, error);
    }
    // Every publish is in flight at once; the PubAcks come back on one shared reply subscription.
    const results = await Promise.allSettled(
      messages.map((m) => session.js.publish(settings.subject(m, channel), m.body, { msgID: m.id, timeout: settings.timeoutMs })),
    );
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length > 0) {
      this.streams.clear();
      const first = failed[0]!.reason as unknown;
      throw this.problems.failure(`${failed.length} of ${messages.length} messages not acknowledged: ${describe(first)}`, first);
    }
  }

  async consume(options: ConsumeOptions, onDelivery: (delivery: Delivery) => void): Promise<Consumption> {
    if (this.closed) throw new TransportError(KIND, 'transport is closed');
    checkPositiveInteger(KIND, options.prefetch, 'prefetch');
    const consumption = new NatsConsumption(this.settings, options, onDelivery, {
      session: () => this.connect(),
      ensureStream: (session) => this.ensureStream(session, options.source, options.channel),
      forgetStream: () => this.streams.delete(this.settings.stream(options.source, options.channel)),
      note: (message) => this.problems.note(message),
    });
    return startConsumption(this.consumptions, consumption);
  }

  health(): TransportHealth {
    return { connected: this.session !== undefined && this.linkUp, lastError: this.problems.last };
  }

  async close(): Promise<void> {
    this.closed = true;
    await closeConsumptions(this.consumptions);
    const session = this.session ?? (await this.connecting?.catch(() => undefined));
    this.session = undefined;
    this.linkUp = false;
    // Closing rejects every request still waiting for a PubAck.
    await session?.nc.close().catch(() => undefined);
  }

  private connect(): Promise<Session> {
    if (this.closed) return Promise.reject(new Error('transport is closed'));
    if (this.session && !this.session.nc.isClosed()) return Promise.resolve(this.session);
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async open(): Promise<Session> {
    const { settings } = this;
    const nc = await connect({
      servers: settings.servers,
      name: `herald ${hostname()}:${process.pid}`,
      timeout: settings.timeoutMs,
      // Keep reconnecting for ever: a broker outage must not need a process restart.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      // Without this the client captures a stack trace per request: publishing is several times slower.
      noAsyncTraces: true,
      ...settings.connection,
    });
    try {
      const session: Session = {
        nc,
        js: jetstream(nc, { timeout: settings.timeoutMs }),
        jsm: await jetstreamManager(nc, { timeout: settings.timeoutMs }),
      };
      if (this.closed) throw new Error('transport is closed');
      this.session = session;
      this.linkUp = true;
      void this.watch(session);
      return session;
    } catch (error) {
      await nc.close().catch(() => undefined);
      throw error;
    }
  }

  /** Follows the connection's status for health and logs, until it closes. */
  private async watch(session: Session): Promise<void> {
    void session.nc.closed().then((error) => {
      if (this.session === session) {
        this.session = undefined;
        this.linkUp = false;
      }
      if (error) this.problems.note(`connection closed: ${describe(error)}`);
    });
    for await (const status of session.nc.status()) {
      if (this.session !== session) break;
      switch (status.type) {
        case 'disconnect':
          this.linkUp = false;
          this.problems.note(`disconnected from ${status.server}; reconnecting`);
          break;
        case 'reconnect':
          this.linkUp = true;
          this.streams.clear();
          this.settings.logger?.info({ transport: KIND, server: status.server }, 'reconnected');
          break;
        case 'error':
          this.problems.note(`connection error: ${describe(status.error)}`);
          break;
        default:
      }
    }
  }

  /** Creates the context's stream if it does not exist; remembered per stream name. */
  private ensureStream(session: Session, source: string, channel: Channel): Promise<void> {
    const name = this.settings.stream(source, channel);
    let ensured = this.streams.get(name);
    if (!ensured) {
      ensured = this.createStream(session, name, source, channel);
      this.streams.set(name, ensured);
      ensured.catch(() => this.streams.delete(name));
    }
    return ensured;
  }

  private async createStream(session: Session, name: string, source: string, channel: Channel): Promise<void> {
    const { settings } = this;
    try {
      await session.jsm.streams.info(name);
      return;
    } catch (error) {
      if (!isApiError(error, JetStreamApiCodes.StreamNotFound)) throw error;
    }
    try {
      await session.jsm.streams.add({
        name,
        subjects: [...settings.streamSubjects(source, channel)],
        storage: settings.storage,
        num_replicas: settings.replicas,
        duplicate_window: nanos(settings.duplicateWindowMs),
      });
    } catch (error) {
      // Another process may have created it first (with a config that differs in some detail).
      await session.jsm.streams.info(name).catch(() => {
        throw error;
      });
    }
  }

}

interface ConsumptionContext {
  session(): Promise<Session>;
  ensureStream(session: Session): Promise<void>;
  /** After a failure: check the stream again next time (it may have been deleted). */
  forgetStream(): void;
  note(message: string): void;
}

/** A consumer group's pull consumption: restarts its message loop until closed. */
class NatsConsumption {
  private readonly stream: string;
  private readonly durable: string;
  /** Delivered and not yet settled, for the gate and the "still working" heartbeat. */
  private readonly unsettled = new Set<JsMsg>();
  private messages: ConsumerMessages | undefined;
  private closed = false;
  private loop: Promise<void> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  /** Resumes the loop waiting for a settlement (or for close). */
  private wakeGate: (() => void) | undefined;
  private readonly backoff: Backoff;

  constructor(
    private readonly settings: Settings,
    private readonly options: ConsumeOptions,
    private readonly onDelivery: (delivery: Delivery) => void,
    private readonly context: ConsumptionContext,
  ) {
    this.stream = settings.stream(options.source, options.channel);
    this.durable = token(options.group);
    this.backoff = new Backoff(settings.reconnectInitialMs, settings.reconnectMaxMs);
  }

  /** Sets up the consumer once, so a misconfiguration rejects here; then runs the loop in the background. */
  async start(): Promise<void> {
    let first: ConsumerMessages;
    try {
      first = await this.subscribe();
    } catch (error) {
      const message = `cannot consume ${this.stream}/${this.durable}: ${describe(error)}`;
      this.context.note(message);
      throw new TransportError(KIND, message, { cause: error });
    }
    // Tell the server about deliveries still being worked on, so only a dead process's deliveries time out.
    this.heartbeat = setInterval(() => {
      for (const m of this.unsettled) m.working();
    }, Math.max(Math.floor(this.settings.ackWaitMs / 3), 50));
    this.heartbeat.unref();
    this.loop = this.run(first);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.messages?.stop();
    this.wakeGate?.();
    this.backoff.interrupt();
    await this.loop;
    this.unsettled.clear();
  }

  private async subscribe(): Promise<ConsumerMessages> {
    const session = await this.context.session();
    await this.context.ensureStream(session);
    await this.ensureConsumer(session);
    const consumer = await session.js.consumers.get(this.stream, this.durable);
    const messages = await consumer.consume({ max_messages: this.options.prefetch });
    this.messages = messages;
    if (this.closed) messages.stop();
    void this.watch(messages);
    return messages;
  }

  /** Creates the durable consumer, or aligns `ack_wait` and `max_ack_pending` of an existing one. */
  private async ensureConsumer(session: Session): Promise<void> {
    const { jsm } = session;
    const ackWait = nanos(this.settings.ackWaitMs);
    const maxAckPending = this.options.prefetch;
    try {
      const info = await jsm.consumers.info(this.stream, this.durable);
      if (info.config.ack_wait !== ackWait || info.config.max_ack_pending !== maxAckPending) {
        await jsm.consumers.update(this.stream, this.durable, { ack_wait: ackWait, max_ack_pending: maxAckPending });
      }
      return;
    } catch (error) {
      if (!isApiError(error, JetStreamApiCodes.ConsumerNotFound)) throw error;
    }
    try {
      await jsm.consumers.add(this.stream, {
        durable_name: this.durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: ackWait,
        max_ack_pending: maxAckPending,
        max_deliver: -1,
      });
    } catch (error) {
      // Another process of the group created it first.
      await jsm.consumers.info(this.stream, this.durable).catch(() => {
        throw error;
      });
    }
  }

  /** Logs the consumer's notable notifications (missed heartbeats, consumer deleted, …). */
  private async watch(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const status of messages.status()) {
        switch (status.type) {
          case 'heartbeats_missed':
          case 'consumer_not_found':
          case 'stream_not_found':
          case 'consumer_deleted':
          case 'exceeded_limits':
          case 'no_responders':
            this.context.note(`consumer ${this.stream}/${this.durable}: ${status.type}`);
            break;
          default:
        }
      }
    } catch {
      // The iterator ends with the consumption; nothing to report.
    }
  }

  private async run(first: ConsumerMessages): Promise<void> {
    let messages: ConsumerMessages | undefined = first;
    while (!this.closed) {
      try {
        messages ??= await this.subscribe();
        this.backoff.reset();
        for await (const m of messages) {
          if (this.closed) break;
          this.deliver(m);
          // The server caps unsettled deliveries with max_ack_pending; this keeps the cap in this
          // process too, even when another process set the consumer up with a larger prefetch.
          while (this.unsettled.size >= this.options.prefetch && !this.closed) {
            await new Promise<void>((resolve) => (this.wakeGate = resolve));
          }
        }
        // The iterator ended without close(): the client gave up on it (consumer deleted, connection closed, …).
        if (!this.closed) this.context.note(`consumer ${this.stream}/${this.durable} stopped; restarting`);
      } catch (error) {
        if (this.closed) break;
        this.context.forgetStream();
        this.context.note(`consumer ${this.stream}/${this.durable} failed: ${describe(error)}; restarting`);
      }
      messages?.stop();
      messages = undefined;
      if (this.closed) break;
      await this.backoff.wait();
    }
  }

  private deliver(m: JsMsg): void {
    this.unsettled.add(m);
    const settle = async (ack: boolean): Promise<void> => {
      this.unsettled.delete(m);
      this.wakeGate?.();
      try {
        // ackAck waits for the server, so once ack() resolved the message is not redelivered.
        if (ack) await m.ackAck({ timeout: this.settings.timeoutMs });
        else m.nak();
      } catch (error) {
        // Not connected, or no answer: the server redelivers after ack_wait, the inbox drops the duplicate.
        this.settings.logger?.debug({ transport: KIND, seq: m.seq, error: describe(error) }, 'settle failed; the server redelivers');
      }
    };
    const received = { body: Buffer.from(m.data), brokerId: String(m.seq), redelivered: m.redelivered || m.info.deliveryCount > 1 };
    handOver(received, settle, this.onDelivery, (error) => {
      this.settings.logger?.error({ transport: KIND, seq: m.seq, error: describe(error) }, 'onDelivery threw; message given back');
    });
  }
}

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

