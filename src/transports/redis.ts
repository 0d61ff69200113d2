/**
 * Redis Streams transport (`ioredis`). Import it from `herald/transports/redis`; it is the only
 * module that loads `ioredis`, an optional peer dependency. Needs Redis 6.2 or later (XAUTOCLAIM).
 *
 * Topology, per sending context: one stream for events (`herald:<source>`) and one for acks
 * (`herald:<source>:acks`); each entry holds the fields `id` (message id) and `body`. One consumer
 * group per Herald consumer group, created at the start of the stream: a new group sees the
 * history the stream still holds.
 *
 * **Durability:** Redis answers XADD once the entry is in memory, not on disk. Unless the server
 * runs with `appendonly yes` and `appendfsync always`, a confirmed message can be lost when Redis
 * stops (with the default `appendfsync everysec`, up to about a second of messages). Without
 * persistence at all, a restart loses every stream and group; consumers then recreate their groups
 * and continue with what is published afterwards.
 *
 * Semantics worth knowing:
 * - Redis does not deduplicate: a batch published again is stored again (the inbox drops the copies).
 * - Processes of one group share its entries, so order across processes is not kept; run one
 *   process per group where order matters.
 * - A delivery stays pending until acked. Entries pending for longer than `claimIdleMs` on a
 *   consumer that stopped (a crashed or closed process) are claimed by a live one. A live process
 *   renews its own unsettled entries every third of `claimIdleMs`, so slow handlers are not robbed:
 *   `claimIdleMs` is how fast the entries of a dead process come back, not a handler timeout.
 * - `nack()` makes the entry available again at once: this consumption claims it back and delivers
 *   it again (ahead of new entries). Entries of a closed consumption come back after `claimIdleMs`.
 * - Consumers of the group that have nothing pending and were idle for `2 × claimIdleMs` (at least
 *   a minute) are removed from the group, so restarts do not pile up dead consumer names.
 *
 * `health()`: `connected` is true while the shared connection and every consumption's reading
 * connection are ready; `lastError` is the most recent problem, kept after recovery.
 */

// The adapter lives in ./redis/: `options` (options, defaults, validation), `connection` (a
// connection that fails fast, and waiting for it), `entries` (parsing stream replies), `group`
// (the consumer group's bookkeeping: creating it, renewing pending entries, removing idle
// consumers), `consume` (one consumer group: the read loop, settling) and `adapter` (the transport
// that ties them together, and publishing).
export { redis } from './redis/adapter.js';
export type { RedisOptions } from './redis/options.js';
