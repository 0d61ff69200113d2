import type { Channel as AmqpChannel } from 'amqplib';
import type { Settings } from './options.js';

/** A context's channel is one durable topic exchange. */
export async function declareExchange(channel: AmqpChannel, exchange: string): Promise<void> {
  await channel.assertExchange(exchange, 'topic', { durable: true });
}

/** A consumer group's durable queue, bound to the context's exchange. */
export async function declareQueue(channel: AmqpChannel, settings: Settings, queue: string, exchange: string): Promise<void> {
  await declareExchange(channel, exchange);
  await channel.assertQueue(queue, { durable: true, arguments: settings.queueArguments });
  for (const key of settings.bindingKeys) await channel.bindQueue(queue, exchange, key);
}
