import type { Channel as AmqpChannel, ChannelModel, ConsumeMessage } from 'amqplib';
import { describe, TransportError } from '../../errors.js';
import { Backoff, handOver } from '../support.js';
import type { ConsumeOptions, Delivery } from '../transport.js';
import { closeConnection, openConnection, within } from './connection.js';
import { KIND, type Settings } from './options.js';
import { declareQueue } from './topology.js';

/** One channel's life inside a consumption: deliveries are settled on the channel they came from. */
interface Generation {
  readonly channel: AmqpChannel;
  alive: boolean;
}

/** A consumer group's consumption on its own connection, reconnecting with backoff until closed. */
export class RabbitMqConsumption {
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
    const connection = await openConnection(settings, `${options.source}/${options.group}`);
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
