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

// The adapter lives in ./nats/: `options` (options, defaults, validation, name sanitising),
// `connection` (the shared connection and its status), `topology` (streams and durable consumers,
// created when missing), `consume` (one consumer group: the pull loop, settling, restarts) and
// `adapter` (the transport that ties them together, and publishing).
export { nats } from './nats/adapter.js';
export type { NatsOptions } from './nats/options.js';
