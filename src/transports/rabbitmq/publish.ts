import type { ChannelModel, ConfirmChannel, Options } from 'amqplib';
import { describe, TransportError } from '../../errors.js';
import { type Problems, redact } from '../support.js';
import type { Channel, OutgoingMessage } from '../transport.js';
import { closeConnection, openConnection } from './connection.js';
import { KIND, type Settings } from './options.js';
import { declareExchange, declareQueue } from './topology.js';

const CONTENT_TYPE = 'application/cloudevents+json';

/** The publishing connection: one confirm channel, plus what was declared on it. */
interface Link {
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
 * Publishing with publisher confirms on one connection, opened on the first publish and opened
 * again by the next publish after it was lost.
 */
export class Publisher {
  private link: Link | undefined;
  private connecting: Promise<Link> | undefined;

  /** @param closed whether the transport is closed: a connection that opens after that is dropped. */
  constructor(
    private readonly settings: Settings,
    private readonly problems: Problems,
    private readonly closed: () => boolean,
  ) {}

  get connected(): boolean {
    return this.link !== undefined && !this.link.lostReason;
  }

  /** Sends every message and waits for every confirm; a `TransportError` otherwise. */
  async publish(channel: Channel, messages: readonly OutgoingMessage[]): Promise<void> {
    let link: Link;
    try {
      link = await this.connect();
    } catch (error) {
      throw this.problems.failure(`cannot connect to ${redact(this.settings.url)}: ${describe(error)}`, error);
    }
    try {
      await this.declare(link, channel, messages);
      await this.send(link, channel, messages);
    } catch (error) {
      throw error instanceof TransportError ? error : this.problems.failure(`publish failed: ${describe(error)}`, error);
    }
  }

  async close(): Promise<void> {
    const link = this.link ?? (await this.connecting?.catch(() => undefined));
    this.link = undefined;
    // Closing the connection closes the channel, which fails every pending confirm.
    if (link) await closeConnection(link.connection, this.settings.connectTimeoutMs);
  }

  private connect(): Promise<Link> {
    if (this.link && !this.link.lostReason) return Promise.resolve(this.link);
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async open(): Promise<Link> {
    const connection = await openConnection(this.settings, 'publisher');
    let channel: ConfirmChannel;
    try {
      connection.on('error', (error: unknown) => this.problems.note(`publisher connection error: ${describe(error)}`));
      channel = await connection.createConfirmChannel();
    } catch (error) {
      await closeConnection(connection, this.settings.connectTimeoutMs);
      throw error;
    }
    const link: Link = { connection, channel, declared: new Set(), onLost: new Set(), lostReason: undefined };
    const lose = (reason: Error) => {
      if (link.lostReason) return;
      link.lostReason = reason;
      for (const listener of link.onLost) listener(reason);
      link.onLost.clear();
      if (this.link === link) this.link = undefined;
      // A channel-level error (e.g. a missing exchange) leaves the connection open: drop it too,
      // the next publish starts over on a fresh connection.
      void closeConnection(connection, this.settings.connectTimeoutMs);
    };
    // amqplib emits 'error' before 'close' on the failing object; without a listener it would crash the process.
    channel.on('error', (error: unknown) => this.problems.note(`publisher channel error: ${describe(error)}`));
    channel.on('close', () => lose(new Error('channel closed')));
    connection.on('close', (error?: unknown) => lose(new Error(error ? `connection closed: ${describe(error)}` : 'connection closed')));
    connection.on('blocked', (reason: unknown) => this.problems.note(`broker blocked publishing: ${describe(reason)}`));
    if (this.closed()) {
      lose(new Error('transport is closed'));
      throw new Error('transport is closed');
    }
    this.link = link;
    return link;
  }

  /** Declares each context's exchange (and the queues of `declareGroups`) once per connection. */
  private async declare(link: Link, channel: Channel, messages: readonly OutgoingMessage[]): Promise<void> {
    const { settings } = this;
    for (const source of new Set(messages.map((m) => m.source))) {
      const exchange = settings.exchange(source, channel);
      if (link.declared.has(exchange)) continue;
      await guard(link, declareExchange(link.channel, exchange));
      for (const group of settings.declareGroups(source, channel)) {
        await guard(link, declareQueue(link.channel, settings, settings.queue(source, group, channel), exchange));
      }
      link.declared.add(exchange);
    }
  }

  private async send(link: Link, channel: Channel, messages: readonly OutgoingMessage[]): Promise<void> {
    const { settings } = this;
    const confirms: Promise<void>[] = [];
    for (const m of messages) {
      let writable = true;
      const confirmed = new Promise<void>((resolve, reject) => {
        const options: Options.Publish = { persistent: true, messageId: m.id, contentType: CONTENT_TYPE, type: m.type };
        writable = link.channel.publish(settings.exchange(m.source, channel), settings.routingKey(m, channel), m.body, options, (err) =>
          // amqplib reports a broker nack as 'message nacked', a channel lost before the confirm as 'channel closed'.
          err ? reject(new Error(`message ${m.id} not confirmed: ${describe(err)}`)) : resolve(),
        );
      });
      // Rejections are observed by Promise.all below; this keeps an early exit from leaving them unhandled.
      confirmed.catch(() => undefined);
      confirms.push(confirmed);
      // publish() returning false means the socket buffer is full: wait for it to drain before writing more.
      if (!writable) await guard(link, new Promise<void>((resolve) => link.channel.once('drain', resolve)));
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new TransportError(KIND, `${messages.length} messages not confirmed within ${settings.confirmTimeoutMs} ms`)),
        settings.confirmTimeoutMs,
      );
    });
    try {
      await Promise.race([guard(link, Promise.all(confirms)), timeout]);
    } catch (error) {
      if (error instanceof TransportError) this.problems.note(error.message);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Races `work` against the connection going away, so nothing waits on a dead channel. */
function guard<T>(link: Link, work: Promise<T>): Promise<T> {
  if (link.lostReason) {
    work.catch(() => undefined);
    return Promise.reject(link.lostReason);
  }
  return new Promise<T>((resolve, reject) => {
    // A listener per call, removed when the work settles: a long-lived connection accumulates nothing.
    link.onLost.add(reject);
    work.then(resolve, reject).finally(() => link.onLost.delete(reject));
  });
}
