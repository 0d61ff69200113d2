/**
 * The outbox figures: Herald's relay of the seed's own outbox table (`relayOutbox()`) against the
 * seed's publisher, a hand-written polling loop on the same table, on RabbitMQ (a fresh exchange
 * with one durable queue bound per run, so a confirm means the message was enqueued; both deleted
 * after the run). Both send the same CloudEvents bodies (the seed's loop with version 1).
 *
 * The seed's loop, as the seed describes its publisher: `BEGIN; SELECT … FROM orders_outbox WHERE
 * dispatched_at IS NULL ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED`, publish the batch and wait
 * for its confirms, `UPDATE … SET dispatched_at = now() WHERE id = ANY(…)`, `COMMIT`; at once again
 * while batches come back full, else after `pollMs`.
 *
 * - `outbox_ratio_rabbitmq`: N rows (100 000; 10 000 with BENCH_QUICK) of 1000 aggregates already
 *   in the table, undispatched (reset before each run, then VACUUM ANALYZE): time from start until
 *   every row is confirmed and dispatched. Herald: `relayOutbox({ window: 1000 })` from a new name
 *   (versions assigned as it goes); baseline: the seed's loop draining without pauses.
 * - `outbox_latency_p50_ms` / `_p99_ms`: writers insert one row per transaction, open loop at
 *   BENCH_OUTBOX_RATE rows/s (default 500) into an emptied table, 1 s warm-up, then 10 s (3 s
 *   quick) measured; latency = broker confirm of the row's message − the writer's COMMIT. Herald
 *   with its default poll (100 ms), baseline the seed's loop polling every 1 s ("every few seconds").
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { createHerald } from '../src/index.js';
import { cloudEventPrefix, cloudEventText } from '../src/transports/cloudevents.js';
import type { OutgoingMessage, Transport } from '../src/transports/transport.js';
import { type BenchResult, QUICK, type Schemas, extraPool, fmt, interleaved, log, median, openLoop, orderPayload, percentile, ratioResult, sleep, wallNow } from './lib.js';

export interface OutboxBenchContext {
  readonly url: string;
  readonly runtimePool: pg.Pool;
  readonly schemas: Schemas;
}

const TOTAL = QUICK ? 10_000 : 100_000;
const ROUNDS = Number(process.env.BENCH_OUTBOX_ROUNDS ?? (QUICK ? 1 : 3));
const WINDOW = 1000;
const RATE = Number(process.env.BENCH_OUTBOX_RATE ?? 500);
const LATENCY = { warmupMs: 1000, measureMs: QUICK ? 3000 : 10_000 } as const;
const RUN_TIMEOUT_MS = 180_000;

/** The seed's table (test/fixtures/tables/orders_outbox.sql) in `schema`. */
const seedTable = (schema: string) => `
CREATE TABLE "${schema}".orders_outbox (
  id              BIGSERIAL  PRIMARY KEY,
  aggregate_id    UUID       NOT NULL,
  event_type      TEXT       NOT NULL,
  payload         JSONB      NOT NULL,
  occurred_at     TIMESTAMPTZ NOT NULL,
  dispatched_at   TIMESTAMPTZ NULL
);
CREATE INDEX ON "${schema}".orders_outbox (dispatched_at) WHERE dispatched_at IS NULL;`;

let runs = 0;

/** A RabbitMQ transport publishing to a fresh exchange with one durable queue, and its removal. */
async function destination(): Promise<{ transport: Transport; drop(): Promise<void> }> {
  const { rabbitmq } = await import('../src/transports/rabbitmq.js');
  const { connect } = await import('amqplib');
  const dest = `bench.outbox.${randomUUID().slice(0, 8)}`;
  const transport = rabbitmq({
    exchange: (_source, channel) => `${dest}.${channel}`,
    queue: (_source, group, channel) => `${dest}.${channel}.${group}`,
    declareGroups: (_source, channel) => (channel === 'events' ? ['sink'] : []),
  });
  return {
    transport,
    async drop() {
      await transport.close();
      const connection = await connect('amqp://guest:guest@127.0.0.1:5672');
      connection.on('error', () => {});
      try {
        const channel = await connection.createChannel();
        await channel.deleteQueue(`${dest}.events.sink`);
        await channel.deleteExchange(`${dest}.events`);
      } finally {
        await connection.close().catch(() => {});
      }
    },
  };
}

/** Wraps a transport to note when each message's confirm arrived (by row id). */
function stamped(transport: Transport, confirmedAt: Map<number, number>): Transport {
  return {
    kind: transport.kind,
    publish: async (channel, messages) => {
      await transport.publish(channel, messages);
      const at = wallNow();
      for (const m of messages) {
        const n = (m as { number?: number }).number; // the relay's messages carry the row id
        if (n !== undefined && !confirmedAt.has(n)) confirmedAt.set(n, at);
      }
    },
    consume: (options, onDelivery) => transport.consume(options, onDelivery),
    health: () => transport.health(),
    close: () => transport.close(),
  };
}

/**
 * The seed's publisher: one batch per transaction, locked with SKIP LOCKED, published, marked.
 * Resolves when `stop()` says so (checked between polls); `pollMs` between polls that were not full.
 */
function seedLoop(pool: pg.Pool, schema: string, transport: Transport, options: { pollMs: number; until: () => boolean; confirmedAt?: Map<number, number> }): Promise<void> {
  const prefix = cloudEventPrefix(schema);
  return (async () => {
    while (!options.until()) {
      const client = await pool.connect();
      let got = 0;
      try {
        await client.query('BEGIN');
        const { rows } = await client.query<{ id: string; aggregate_id: string; event_type: string; payload: string; ms: number }>(
          `SELECT id::text, aggregate_id::text, event_type, payload::text AS payload, (extract(epoch FROM occurred_at) * 1000)::float8 AS ms
             FROM "${schema}".orders_outbox WHERE dispatched_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
          [WINDOW],
        );
        got = rows.length;
        if (got > 0) {
          const messages: OutgoingMessage[] = rows.map((r) => {
            const id = randomUUID();
            const body = cloudEventText(prefix, { id, number: r.id, streamId: r.aggregate_id, version: '1', type: r.event_type, time: new Date(Math.floor(r.ms)).toISOString(), data: r.payload, metadata: '{}', causation: null, correlation: null });
            return { id, source: schema, type: r.event_type, key: r.aggregate_id, body: Buffer.from(body) };
          });
          await transport.publish('events', messages);
          const at = wallNow();
          if (options.confirmedAt) for (const r of rows) options.confirmedAt.set(Number(r.id), at);
          await client.query(`UPDATE "${schema}".orders_outbox SET dispatched_at = now() WHERE id = ANY($1::bigint[])`, [rows.map((r) => r.id)]);
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
      if (got < WINDOW) await sleep(options.pollMs);
    }
  })();
}

async function undispatched(pool: pg.Pool, schema: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM "${schema}".orders_outbox WHERE dispatched_at IS NULL`);
  return Number(rows[0]!.n);
}

async function deadline<T>(work: Promise<T>, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${label}: not done within ${RUN_TIMEOUT_MS / 1000} s`)), RUN_TIMEOUT_MS)));
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Herald drains the table: start → every row confirmed and dispatched. */
async function heraldDrain(pool: pg.Pool, schema: string): Promise<number> {
  const { transport, drop } = await destination();
  const herald = createHerald({ pool, context: schema, sequencer: false });
  try {
    await transport.publish('events', [{ id: randomUUID(), source: schema, type: 'Warmup', key: 'w', body: Buffer.from('{}') }]);
    const confirmedAt = new Map<number, number>();
    herald.relayOutbox({ table: 'orders_outbox', schema, transport: stamped(transport, confirmedAt), window: WINDOW, name: `outbox-bench-${++runs}` });
    const t0 = performance.now();
    await herald.start();
    await deadline((async () => {
      while (confirmedAt.size < TOTAL) await sleep(5);
      while ((await undispatched(pool, schema)) > 0) await sleep(5);
    })(), 'herald drain');
    return (TOTAL * 1000) / (performance.now() - t0);
  } finally {
    await herald.stop();
    await drop();
  }
}

/** The seed's loop drains the table, without pauses while batches are full. */
async function seedDrain(pool: pg.Pool, schema: string): Promise<number> {
  const { transport, drop } = await destination();
  try {
    await transport.publish('events', [{ id: randomUUID(), source: schema, type: 'Warmup', key: 'w', body: Buffer.from('{}') }]);
    const confirmedAt = new Map<number, number>();
    const t0 = performance.now();
    await deadline(seedLoop(pool, schema, transport, { pollMs: 0, until: () => confirmedAt.size >= TOTAL, confirmedAt }), 'seed drain');
    return (TOTAL * 1000) / (performance.now() - t0);
  } finally {
    await drop();
  }
}

async function resetTable(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`UPDATE "${schema}".orders_outbox SET dispatched_at = NULL WHERE dispatched_at IS NOT NULL`);
  await pool.query(`VACUUM ANALYZE "${schema}".orders_outbox`);
}

/** Commit → confirm latencies of rows written open loop while `run` relays them. */
async function latencies(pool: pg.Pool, writers: pg.Pool, schema: string, label: string, run: (transport: Transport, confirmedAt: Map<number, number>) => Promise<() => Promise<void>>): Promise<{ p50: number; p99: number; count: number }> {
  await pool.query(`TRUNCATE "${schema}".orders_outbox RESTART IDENTITY`);
  const { transport, drop } = await destination();
  const confirmedAt = new Map<number, number>();
  const aggregates = Array.from({ length: 200 }, () => randomUUID());
  try {
    await transport.publish('events', [{ id: randomUUID(), source: schema, type: 'Warmup', key: 'w', body: Buffer.from('{}') }]);
    const stop = await run(transport, confirmedAt);
    const total = Math.round(((LATENCY.warmupMs + LATENCY.measureMs) / 1000) * RATE);
    const { commits, maxBehindMs } = await openLoop({
      total,
      perSecond: RATE,
      firstMeasured: Math.round((LATENCY.warmupMs / 1000) * RATE),
      write: async (i) => {
        const { rows } = await writers.query<{ id: string }>(
          `INSERT INTO "${schema}".orders_outbox (aggregate_id, event_type, payload, occurred_at) VALUES ($1, 'OrderPlaced', $2, now()) RETURNING id`,
          [aggregates[i % aggregates.length], orderPayload(`order-${i}`, i)],
        );
        return [rows[0]!.id];
      },
    });
    await deadline((async () => {
      while (!commits.every(([id]) => confirmedAt.has(Number(id)))) await sleep(20);
    })(), `${label} latency`);
    await stop();
    const values = commits.map(([id, at]) => confirmedAt.get(Number(id))! - at);
    const result = { p50: percentile(values, 50), p99: percentile(values, 99), count: values.length };
    log(`  latency ${label.padEnd(22)} p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms over ${fmt(result.count)} rows (writers fell behind by at most ${fmt(maxBehindMs)} ms)`);
    return result;
  } finally {
    await drop();
  }
}

export async function outboxBench(ctx: OutboxBenchContext): Promise<BenchResult[]> {
  const schema = ctx.schemas.name('outbox');
  const pool = extraPool(ctx.url, 8);
  const writers = extraPool(ctx.url, 8);
  try {
    const herald = createHerald({ pool, context: schema });
    await herald.migrate();
    await pool.query(seedTable(schema));
    await pool.query(
      `INSERT INTO "${schema}".orders_outbox (aggregate_id, event_type, payload, occurred_at)
       SELECT md5((g % 1000)::text)::uuid, 'OrderPlaced',
              jsonb_build_object('orderId', 'order-' || g, 'customerId', 'customer-' || (g % 1000), 'sku', 'SKU-' || lpad((g % 97)::text, 4, '0'),
                                 'qty', 1 + g % 5, 'unitPriceCents', 1999, 'currency', 'EUR'), now()
         FROM generate_series(1, $1) AS g`,
      [TOTAL],
    );
    log(`  seeded ${fmt(TOTAL)} rows of 1000 aggregates`);
    const rates = await interleaved(
      ROUNDS,
      {
        herald: async () => {
          await resetTable(pool, schema);
          return heraldDrain(pool, schema);
        },
        seed_loop: async () => {
          await resetTable(pool, schema);
          return seedDrain(pool, schema);
        },
      },
      { label: 'outbox drain', unit: 'rows/s' },
    );
    const heraldLatency = await latencies(pool, writers, schema, 'herald (poll 100 ms)', async (transport, confirmedAt) => {
      const relay = createHerald({ pool, context: schema, sequencer: false });
      relay.relayOutbox({ table: 'orders_outbox', schema, transport: stamped(transport, confirmedAt), window: WINDOW, name: `outbox-latency-${++runs}` });
      await relay.start();
      return () => relay.stop();
    });
    const seedLatency = await latencies(pool, writers, schema, 'seed loop (poll 1 s)', async (transport, confirmedAt) => {
      let stopping = false;
      const loop = seedLoop(pool, schema, transport, { pollMs: 1000, until: () => stopping, confirmedAt });
      return async () => {
        stopping = true;
        await loop;
      };
    });
    return [
      ratioResult('outbox_ratio_rabbitmq', median(rates.herald), median(rates.seed_loop), 'rows/s'),
      ratioResult('outbox_latency_p50_ms', heraldLatency.p50, seedLatency.p50, 'ms'),
      ratioResult('outbox_latency_p99_ms', heraldLatency.p99, seedLatency.p99, 'ms'),
    ];
  } finally {
    await writers.end();
    await pool.end();
  }
}
