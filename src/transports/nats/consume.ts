import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import { describe, TransportError } from '../../errors.js';
import { Backoff, handOver } from '../support.js';
import type { ConsumeOptions, Delivery } from '../transport.js';
import type { Session } from './connection.js';
import { KIND, type Settings, token } from './options.js';
import { ensureConsumer } from './topology.js';

/** What a consumption needs from its transport. */
export interface ConsumptionContext {
  session(): Promise<Session>;
  ensureStream(session: Session): Promise<void>;
  /** After a failure: check the stream again next time (it may have been deleted). */
  forgetStream(): void;
  note(message: string): void;
}

/** A consumer group's pull consumption: restarts its message loop until closed. */
export class NatsConsumption {
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
    await ensureConsumer(session.jsm, this.stream, this.durable, this.settings.ackWaitMs, this.options.prefetch);
    const consumer = await session.js.consumers.get(this.stream, this.durable);
    const messages = await consumer.consume({ max_messages: this.options.prefetch });
    this.messages = messages;
    if (this.closed) messages.stop();
    void this.watch(messages);
    return messages;
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
