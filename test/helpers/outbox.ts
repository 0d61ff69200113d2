/**
 * Helpers of the outbox tests: a context with the seed's orders_outbox in its schema, an
 * in-memory broker that can refuse messages or lose confirms, and what was published.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import type pg from 'pg';
import { createHerald, type Herald, type OutboxRelayOptions, TransportError } from '../../src/index.js';
import { decodeCloudEvent, type ReceivedEvent } from '../../src/transports/cloudevents.js';
import type { Channel, OutgoingMessage } from '../../src/transports/transport.js';
import { createPool, dropContext, uniqueContext } from './db.js';
import { type MemoryBroker, MemoryTransport } from './memory-transport.js';

/** The seed's own SQL for its outbox table. */
export const SEED_OUTBOX_SQL = readFileSync('test/fixtures/tables/orders_outbox.sql', 'utf8');

/** The in-memory broker, plus refusals for good and confirms that get lost after the broker stored the messages. */
export class TestTransport extends MemoryTransport {
  refuse: (message: OutgoingMessage) => boolean = () => false;
  /** The next publish reaches the broker, but its confirm is lost (the relay must publish it again). */
  loseNextConfirm = false;

  override async publish(channel: Channel, messages: readonly OutgoingMessage[]): Promise<void> {
    if (channel === 'events' && messages.some(this.refuse)) throw new TransportError(this.kind, 'message too big for this broker', { refused: true });
    await super.publish(channel, messages);
    if (this.loseNextConfirm && channel === 'events') {
      this.loseNextConfirm = false;
      throw new TransportError(this.kind, 'connection lost before the confirms arrived');
    }
  }
}

export interface World {
  pool: pg.Pool;
  context: string;
  herald: Herald;
  table: string;
  /** Another Herald on the same context: another process. */
  another(): Herald;
  /** Registers a clean-up that runs before the world's own (Heralds, schema, pool). */
  defer(cleanup: () => Promise<unknown>): void;
}

/** A context with the seed's orders_outbox (its own SQL, test/fixtures/tables/orders_outbox.sql) in its schema. */
export async function outboxWorld(t: TestContext, options: { ddl?: string } = {}): Promise<World> {
  const pool = createPool(14);
  const context = uniqueContext('obx');
  const heralds: Herald[] = [];
  const another = () => {
    const herald = createHerald({ pool, context, pollMs: 50, leaseTtlMs: 2000 });
    heralds.push(herald);
    return herald;
  };
  const herald = another();
  await herald.migrate();
  const client = await pool.connect();
  try {
    await client.query(`SET search_path TO "${context}"`);
    await client.query(options.ddl ?? SEED_OUTBOX_SQL);
    await client.query('RESET search_path');
  } finally {
    client.release();
  }
  const cleanups: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    for (const h of heralds) await h.stop();
    await dropContext(pool, context);
    await pool.end();
  });
  return { pool, context, herald, table: `"${context}".orders_outbox`, another, defer: (fn) => void cleanups.push(fn) };
}

export function relayOptions(world: World, transport: MemoryTransport, extra: Partial<OutboxRelayOptions> = {}): OutboxRelayOptions {
  return { table: 'orders_outbox', schema: world.context, transport, window: 40, pollMs: 20, ...extra };
}

export async function insert(db: pg.Pool | pg.PoolClient, world: World, aggregate: string, type: string, payload: unknown): Promise<number> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO ${world.table} (aggregate_id, event_type, payload, occurred_at) VALUES ($1, $2, $3, now()) RETURNING id`,
    [aggregate, type, JSON.stringify(payload)],
  );
  return Number(rows[0]!.id);
}

/** Everything published to the context's events so far, decoded, in publish order. */
export function published(broker: MemoryBroker, context: string): ReceivedEvent[] {
  return broker.group('events', context, 'probe').waiting.map((m) => decodeCloudEvent(m.body));
}

export async function undispatched(world: World): Promise<number[]> {
  const { rows } = await world.pool.query<{ id: string }>(`SELECT id FROM ${world.table} WHERE dispatched_at IS NULL ORDER BY id`);
  return rows.map((r) => Number(r.id));
}

/** Each aggregate's messages carry versions 1, 2, 3, … in publish order, and their row ids ascend. */
export function assertStreamsInOrder(events: readonly ReceivedEvent[]): void {
  const byStream = new Map<string, ReceivedEvent[]>();
  for (const e of events) byStream.set(e.metadata.streamId, [...(byStream.get(e.metadata.streamId) ?? []), e]);
  for (const [stream, list] of byStream) {
    assert.deepEqual(list.map((e) => e.metadata.streamVersion), list.map((_, i) => i + 1), `stream ${stream}: versions in order`);
    const ids = list.map((e) => e.metadata.eventNumber);
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b), `stream ${stream}: rows in id order`);
  }
}
