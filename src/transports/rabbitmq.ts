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

// The adapter lives in ./rabbitmq/: `options` (options, defaults, validation), `connection`
// (opening and closing AMQP connections), `topology` (exchanges, queues, bindings), `publish`
// (confirmed publishing), `consume` (one consumer group: deliveries, settling, reconnecting) and
// `adapter` (the transport that ties them together).
export { rabbitmq } from './rabbitmq/adapter.js';
export type { RabbitMqOptions } from './rabbitmq/options.js';
