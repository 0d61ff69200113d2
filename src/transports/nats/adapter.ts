import { describe, TransportError } from '../../errors.js';
import { checkPositiveInteger, closeConsumptions, Problems, startConsumption } from '../support.js';
import type { Channel, ConsumeOptions, Consumption, Delivery, OutgoingMessage, Transport, TransportHealth } from '../transport.js';
import { SharedConnection } from './connection.js';
import { NatsConsumption } from './consume.js';
import { KIND, type NatsOptions, resolve, type Settings } from './options.js';
import { Streams } from './topology.js';

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

class NatsTransport implements Transport {
  readonly kind = KIND;
  private readonly connection: SharedConnection;
  private readonly streams: Streams;
  private readonly consumptions = new Set<NatsConsumption>();
  private readonly problems: Problems;
  private closed = false;

  constructor(private readonly settings: Settings) {
    this.problems = new Problems(KIND, settings.logger);
    this.streams = new Streams(settings);
    this.connection = new SharedConnection(settings, this.problems, () => this.closed, () => this.streams.clear());
  }

  async publish(channel: Channel, messages: readonly OutgoingMessage[]): Promise<void> {
    if (this.closed) throw new TransportError(KIND, 'transport is closed');
    if (messages.length === 0) return;
    const session = await this.connection.session().catch((error: unknown) => {
      throw this.problems.failure(`cannot connect to ${String(this.settings.servers)}: ${describe(error)}`, error);
    });
    // While the client reconnects it would buffer the publishes and let every PubAck time out; fail now instead.
    if (!this.connection.up) throw this.problems.failure('not connected (the client is reconnecting)', undefined);
    const { settings } = this;
    try {
      await Promise.all([...new Set(messages.map((m) => m.source))].map((source) => this.streams.ensure(session, source, channel)));
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
      // A message over the server's max_payload is refused by the client before it is sent: for good.
      const tooLarge = failed.find((r) => /max_payload/i.test(describe(r.reason)));
      const first = (tooLarge ?? failed[0]!).reason as unknown;
      throw this.problems.failure(`${failed.length} of ${messages.length} messages not acknowledged: ${describe(first)}`, first, tooLarge !== undefined);
    }
  }

  async consume(options: ConsumeOptions, onDelivery: (delivery: Delivery) => void): Promise<Consumption> {
    if (this.closed) throw new TransportError(KIND, 'transport is closed');
    checkPositiveInteger(KIND, options.prefetch, 'prefetch');
    const consumption = new NatsConsumption(this.settings, options, onDelivery, {
      session: () => this.connection.session(),
      ensureStream: (session) => this.streams.ensure(session, options.source, options.channel),
      forgetStream: () => this.streams.forget(options.source, options.channel),
      note: (message) => this.problems.note(message),
    });
    return startConsumption(this.consumptions, consumption);
  }

  health(): TransportHealth {
    return { connected: this.connection.connected, lastError: this.problems.last };
  }

  async close(): Promise<void> {
    this.closed = true;
    await closeConsumptions(this.consumptions);
    await this.connection.close();
  }
}
