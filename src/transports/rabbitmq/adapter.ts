import { TransportError } from '../../errors.js';
import { closeConsumptions, Problems, startConsumption } from '../support.js';
import type { Channel, ConsumeOptions, Consumption, Delivery, OutgoingMessage, Transport, TransportHealth } from '../transport.js';
import { RabbitMqConsumption } from './consume.js';
import { checkPrefetch, KIND, type RabbitMqOptions, resolve, type Settings } from './options.js';
import { Publisher } from './publish.js';

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

class RabbitMqTransport implements Transport {
  readonly kind = KIND;
  private readonly publisher: Publisher;
  private readonly consumptions = new Set<RabbitMqConsumption>();
  private readonly problems: Problems;
  /** Set by the first publish: from then on, health counts the publisher connection. */
  private publishing = false;
  private closed = false;

  constructor(private readonly settings: Settings) {
    this.problems = new Problems(KIND, settings.logger);
    this.publisher = new Publisher(settings, this.problems, () => this.closed);
  }

  async publish(channel: Channel, messages: readonly OutgoingMessage[]): Promise<void> {
    if (this.closed) throw new TransportError(KIND, 'transport is closed');
    if (messages.length === 0) return;
    this.publishing = true;
    await this.publisher.publish(channel, messages);
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
    if (this.publishing) needed.push(this.publisher.connected);
    return { connected: needed.length > 0 && needed.every(Boolean), lastError: this.problems.last };
  }

  async close(): Promise<void> {
    this.closed = true;
    await closeConsumptions(this.consumptions);
    await this.publisher.close();
  }
}
