/**
 * `herald/transports`: the transport contract, as types only. Importing it loads no broker client;
 * pick an adapter (and its options type) from its own entry point, which loads only its client:
 *
 * ```ts
 * import { rabbitmq } from 'herald/transports/rabbitmq'; // amqplib
 * import { nats } from 'herald/transports/nats';         // @nats-io/transport-node, @nats-io/jetstream
 * import { redis } from 'herald/transports/redis';       // ioredis
 * ```
 */
export type {
  Channel,
  ConsumeOptions,
  Consumption,
  Delivery,
  OutgoingMessage,
  Transport,
  TransportHealth,
} from './transport.js';
