/**
 * The relay figures, per broker (`rabbitmq`, `nats`, `redis`; BENCH_RELAY_BROKERS=nats,redis for some):
 * `relay_ratio_<broker>`, `relay_ratio_sliding_<broker>`, `relay_<broker>_per_s`,
 * `relay_raw_<broker>_per_s`, `relay_raw_sliding_<broker>_per_s`, and end to end
 * `e2e_p50_ms_<broker>`, `e2e_p99_ms_<broker>`, `e2e_max_ms_<broker>`, `e2e_rate_<broker>`,
 * `e2e_delivered_rate_<broker>`. BENCH_RELAY_PARTS=ratio (or =e2e) runs one part only.
 *
 * Throughput (setup untimed): N events (100 000; 10 000 with BENCH_QUICK) appended 1000 per append
 * into N/1000 streams, sequenced, VACUUM ANALYZE. The messages the relay sends are then built once
 * from the log for the baselines: `readLog` pages → `{ id, source, type, key, body: encodeCloudEvent(context, event) }`,
 * the relay's own OutgoingMessage. Window W = 1000 (BENCH_RELAY_WINDOW=500 for another; figures of
 * another window are suffixed `_w<W>`). Every run, relay or raw, publishes to a fresh destination
 * through a new transport built with the same options, whose connection is opened and destination
 * declared by one warm-up message before the clock starts; the destination is deleted afterwards:
 * - rabbitmq: exchange `bench.<run>.events` with one durable queue bound (`declareGroups`), so every
 *   persistent message is really enqueued before its confirm — the case of a relay with a consumer
 *   (an exchange without a queue confirms without storing anything). Queue and exchange are
 *   deleted after the run, so no messages pile up.
 * - nats: stream `BENCH_<RUN>_EVENTS` (the transport's defaults: file storage), deleted after.
 * - redis: key `bench:<run>:events`, DEL after.
 *
 * - `relay`:       `herald.relay({ transport, window: W, collectAcknowledgements: false })` (default
 *                  pages) on a new subscription from the origin: time from `herald.start()` until
 *                  the transport confirmed the page holding the last event and the subscription's
 *                  stored checkpoint equals the head. The transport is wrapped only to timestamp
 *                  its publish calls.
 * - `raw`:         the pre-encoded messages, `transport.publish('events', batch)` in consecutive
 *                  batches of W, awaiting each batch's confirms: W in flight, batch by batch, with
 *                  no reading, encoding or checkpoint.
 * - `raw_sliding`: the same messages with up to W in flight at any time: W/C lanes, each publishing
 *                  the next chunk of C messages as soon as its previous one is confirmed. Measured
 *                  with C = W/10 and W/4 (the relay's default page); the faster is the baseline
 *                  (BENCH_RELAY_SLIDING_CHUNKS=1,10,100 to choose; chunks of 1 and 10 were slower
 *                  on every broker: publish() has a per-call cost).
 *
 * Each relay run also logs where its wall time went (publishing, waiting for reads, checkpoints,
 * node only: encoding and the loop), from the publish timestamps and its own pool's statement
 * timings, and the node process's CPU use (this process also runs the broker clients).
 *
 * End to end (absolute, no baseline): a sender context with a relay (default options, window W,
 * acknowledgements collected) and a receiving context with a consumer (default prefetch and
 * concurrency, a no-op handler: the inbox row and the stream position are what it writes), both in
 * this process on one pool of 20. Writers append 1000 events/s (BENCH_RELAY_E2E_RATE; figures of
 * another rate are suffixed `_at<rate>`), one event per `herald.append(streamId, event)` (its own
 * transaction, a new stream each), fired open-loop on a fixed schedule, so a slow commit does not
 * lower the offered load; the writer stamps the wall clock when the append resolved (after COMMIT),
 * the handler when it is first called for the event; latency = handler − commit, over every event
 * after a 1 s warm-up (10 s measured). `e2e_delivered_rate` is the measured events over the time
 * from the first one's commit to the last one's handling: below the writers' rate, the pipeline
 * did not keep up and the latencies grew with the backlog.
 */
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { createHerald } from '../src/index.js';
import { readLog } from '../src/log/read.js';
import { quoteIdent } from '../src/sql/identifiers.js';
import { encodeCloudEvent } from '../src/transports/cloudevents.js';
import type { OutgoingMessage, Transport } from '../src/transports/transport.js';
import {
  type BenchResult,
  QUICK,
  appendOrders,
  type Schemas,
  extraPool,
  fmt,
  interleaved,
  load,
  log,
  median,
  openLoop,
  orderPayload,
  percentile,
  ratioResult,
  round,
  sleep,
  wallNow,
} from './lib.js';

export interface RelayBenchContext {
  readonly url: string;
  readonly runtimePool: pg.Pool;
  readonly schemas: Schemas;
}

type Broker = 'rabbitmq' | 'nats' | 'redis';

const TOTAL = QUICK ? 10_000 : 100_000;
const PER_APPEND = 1000;
const SEED_WRITERS = 4;
const ROUNDS = Number(process.env.BENCH_RELAY_ROUNDS ?? (QUICK ? 1 : 3));
const WINDOW = Number(process.env.BENCH_RELAY_WINDOW ?? 1000);
/**
 * Chunk sizes of the sliding baseline; each is measured and the fastest is the baseline. Default
 * W/10: chunks of 1 and of 10 were measured slower on every broker (per-call overhead of publish()).
 */
const SLIDING_CHUNKS = (process.env.BENCH_RELAY_SLIDING_CHUNKS ?? `${Math.max(1, Math.floor(WINDOW / 10))},${Math.max(1, Math.floor(WINDOW / 4))}`)
  .split(',')
  .map(Number);
const SUFFIX = WINDOW === 1000 ? '' : `_w${WINDOW}`;
const BROKERS = (process.env.BENCH_RELAY_BROKERS ?? 'rabbitmq,nats,redis').split(',').map((b) => b.trim()) as Broker[];
/** BENCH_RELAY_PARTS=ratio or =e2e runs one part only. */
const PARTS = new Set((process.env.BENCH_RELAY_PARTS ?? 'ratio,e2e').split(',').map((p) => p.trim()));
const E2E = { eventsPerSecond: Number(process.env.BENCH_RELAY_E2E_RATE ?? 1000), warmupMs: 1000, measureMs: QUICK ? 3000 : 10_000 } as const;
/** Figures of another rate than 1000 events/s (BENCH_RELAY_E2E_RATE) are suffixed `_at<rate>`. */
const E2E_SUFFIX = `${SUFFIX}${E2E.eventsPerSecond === 1000 ? '' : `_at${E2E.eventsPerSecond}`}`;
/** A run that has not finished after this long failed (the relay stalls rather than throws on broker errors). */
const RUN_TIMEOUT_MS = 120_000;

// ------------------------------------------------------------------ brokers

/** Builds transports for one broker and deletes what the benchmark created on it. */
interface BrokerAdmin {
  /** A transport whose `events` channel publishes to the destination `dest` only. */
  transport(dest: string): Promise<Transport>;
  /** Deletes the destination (and its queue) of {@link transport}. */
  drop(dest: string): Promise<void>;
  /** A transport with the adapter's default options (the e2e run). */
  defaultTransport(): Promise<Transport>;
  /** Deletes what a relay of `context` and a consumer `group` created under the default names. */
  dropContext(context: string, group: string): Promise<void>;
}

/**
 * Each clean-up opens its own connection (a broker restarted since the last one does not matter)
 * and is tried for up to ~10 s: leaving 100 000 messages behind is worse than waiting.
 */
async function cleanUp(what: string, work: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await work();
      return;
    } catch (error) {
      if (attempt >= 10) {
        log(`  could not delete ${what}: ${(error as Error).message}`);
        return;
      }
      await sleep(1000);
    }
  }
}

async function openAdmin(broker: Broker): Promise<BrokerAdmin> {
  switch (broker) {
    case 'rabbitmq': {
      const { rabbitmq } = await import('../src/transports/rabbitmq.js');
      const { connect } = await import('amqplib');
      // queue.delete and exchange.delete succeed for names that do not exist.
      const remove = (queues: string[], exchanges: string[]) =>
        cleanUp([...queues, ...exchanges].join(', '), async () => {
          const connection = await connect('amqp://guest:guest@127.0.0.1:5672');
          connection.on('error', () => {});
          try {
            const channel = await connection.createChannel();
            channel.on('error', () => {});
            for (const queue of queues) await channel.deleteQueue(queue);
            for (const exchange of exchanges) await channel.deleteExchange(exchange);
          } finally {
            await connection.close().catch(() => {});
          }
        });
      return {
        transport: async (dest) =>
          rabbitmq({
            exchange: (_source, channel) => `bench.${dest}.${channel}`,
            queue: (_source, group, channel) => `bench.${dest}.${channel}.${group}`,
            declareGroups: (_source, channel) => (channel === 'events' ? ['sink'] : []),
          }),
        drop: (dest) => remove([`bench.${dest}.events.sink`], [`bench.${dest}.events`]),
        defaultTransport: async () => rabbitmq(),
        dropContext: (context, group) =>
          remove([`herald.${context}.${group}`, `herald.${context}.acks.sender`], [`herald.${context}`, `herald.${context}.acks`]),
      };
    }
    case 'nats': {
      const { nats } = await import('../src/transports/nats.js');
      const { connect } = await import('@nats-io/transport-node');
      const { jetstreamManager, JetStreamApiError, JetStreamApiCodes } = await import('@nats-io/jetstream');
      const remove = (streams: string[]) =>
        cleanUp(streams.join(', '), async () => {
          const nc = await connect({ servers: '127.0.0.1:4222' });
          try {
            const jsm = await jetstreamManager(nc);
            for (const stream of streams) {
              await jsm.streams.delete(stream).catch((error: unknown) => {
                if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)) throw error;
              });
            }
          } finally {
            await nc.close().catch(() => {});
          }
        });
      return {
        transport: async (dest) =>
          nats({
            stream: (_source, channel) => `BENCH_${dest.toUpperCase()}_${channel.toUpperCase()}`,
            subject: (m, channel) => `bench.${dest}.${channel}.${m.type.replace(/[^A-Za-z0-9_-]/g, '_')}`,
            streamSubjects: (_source, channel) => [`bench.${dest}.${channel}.>`],
          }),
        drop: (dest) => remove([`BENCH_${dest.toUpperCase()}_EVENTS`]),
        defaultTransport: async () => nats(),
        dropContext: (context) => remove([`HERALD_${context.toUpperCase()}`, `HERALD_${context.toUpperCase()}_ACKS`]),
      };
    }
    case 'redis': {
      const { redis } = await import('../src/transports/redis.js');
      const { Redis } = await import('ioredis');
      const remove = (keys: string[]) =>
        cleanUp(keys.join(', '), async () => {
          const client = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 0 });
          client.on('error', () => {});
          try {
            await client.connect();
            await client.del(...keys);
          } finally {
            client.disconnect();
          }
        });
      return {
        transport: async (dest) => redis({ key: (_source, channel) => `bench:${dest}:${channel}` }),
        drop: (dest) => remove([`bench:${dest}:events`]),
        defaultTransport: async () => redis(),
        dropContext: (context) => remove([`herald:${context}`, `herald:${context}:acks`]),
      };
    }
    default:
      throw new Error(`unknown broker '${broker as string}' in BENCH_RELAY_BROKERS`);
  }
}

/**
 * Other processes on this machine may restart a broker (integration tests do): a run that fails
 * is logged and run again, once. A second failure fails the group.
 */
async function retryOnce<T>(label: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    log(`    ${label} failed (${(error as Error).message}); running it again`);
    await sleep(3000);
    return run();
  }
}

// ------------------------------------------------------------------ setup

async function seed(pool: pg.Pool, context: string): Promise<void> {
  const appends = TOTAL / PER_APPEND;
  const t0 = performance.now();
  await appendOrders(pool, context, { total: TOTAL, perAppend: PER_APPEND, writers: SEED_WRITERS, streamPrefix: 'relay-stream' });
  const sequencer = createHerald({ pool, context, sequencer: { batchSize: 1000 } });
  await sequencer.start();
  await sequencer.stop();
  const status = await sequencer.status();
  if (status.head !== TOTAL || status.unsequenced !== 0) throw new Error(`sequencing left ${JSON.stringify(status)}`);
  for (const table of ['events', 'positions']) await pool.query(`VACUUM (ANALYZE) "${context}".${table}`);
  log(`  seeded and sequenced ${fmt(TOTAL)} events: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

/** The relay's messages, built once from the log as the relay builds them. */
async function encodeAll(pool: pg.Pool, context: string): Promise<OutgoingMessage[]> {
  const schema = quoteIdent(context);
  const messages: OutgoingMessage[] = [];
  let readMs = 0;
  let encodeMs = 0;
  for (let after = 0; ; ) {
    const t0 = performance.now();
    const page = await readLog(pool, schema, after, 1000);
    const t1 = performance.now();
    for (const event of page) {
      messages.push({ id: event.metadata.eventId, source: context, type: event.type, key: event.metadata.streamId, body: encodeCloudEvent(context, event) });
    }
    readMs += t1 - t0;
    encodeMs += performance.now() - t1;
    if (page.length < 1000) break;
    after = page[page.length - 1]!.metadata.eventNumber;
  }
  if (messages.length !== TOTAL) throw new Error(`read ${messages.length} events, expected ${TOTAL}`);
  const bytes = messages.reduce((sum, m) => sum + m.body.length, 0);
  log(
    `  built ${fmt(TOTAL)} messages (${fmt(bytes / TOTAL)} bytes each): readLog ${fmt(readMs)} ms, ` +
      `encodeCloudEvent ${fmt(encodeMs)} ms (${((encodeMs * 1000) / TOTAL).toFixed(1)} µs/event)`,
  );
  return messages;
}

function pages<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function withTimeout<T>(work: Promise<T>, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: not done within ${RUN_TIMEOUT_MS / 1000} s`)), RUN_TIMEOUT_MS);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

// ------------------------------------------------------------------ statement timings

type Span = [start: number, end: number];

/** Timestamps the relay's reads and checkpoints on every connection of `pool`. */
function instrument(pool: pg.Pool): { read: Span[]; checkpoint: Span[]; reset(): void } {
  const spans = { read: [] as Span[], checkpoint: [] as Span[] };
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (...args: unknown[]) => {
      const name = (args[0] as { name?: unknown } | null)?.name;
      const kind = typeof name !== 'string' ? undefined : name.startsWith('herald:read:') ? 'read' : name.startsWith('herald:checkpoint:') ? 'checkpoint' : undefined;
      if (!kind) return query(...args);
      const start = performance.now();
      const done = () => spans[kind].push([start, performance.now()]);
      const last = args.length - 1;
      if (typeof args[last] === 'function') {
        // pool.query() passes a callback.
        const callback = args[last] as (...a: unknown[]) => unknown;
        args[last] = (...a: unknown[]) => {
          done();
          return callback(...a);
        };
        return query(...args);
      }
      const result = query(...args) as Promise<unknown>;
      result.then(done, () => {});
      return result;
    };
  });
  return {
    ...spans,
    reset() {
      spans.read.length = 0;
      spans.checkpoint.length = 0;
    },
  };
}

// ------------------------------------------------------------------ runs

let runCounter = 0;

interface Shared {
  readonly prefix: string;
  readonly context: string;
  readonly messages: readonly OutgoingMessage[];
  readonly admin: BrokerAdmin;
  readonly relayPool: pg.Pool;
  readonly timings: ReturnType<typeof instrument>;
}

/** A fresh destination, its transport warmed up (connected, destination declared), and its removal. */
async function withDestination<T>(shared: Shared, label: string, run: (transport: Transport) => Promise<T>): Promise<T> {
  const dest = `${shared.prefix}_${label}${++runCounter}`;
  const transport = await shared.admin.transport(dest);
  try {
    const first = shared.messages[0]!;
    await transport.publish('events', [{ ...first, id: randomUUID() }]);
    return await run(transport);
  } finally {
    await transport.close();
    await shared.admin.drop(dest);
  }
}

function cpuPercent(since: NodeJS.CpuUsage, ms: number): number {
  const used = process.cpuUsage(since);
  return ((used.user + used.system) / 1000 / ms) * 100;
}

async function rawRun(shared: Shared, batches: readonly (readonly OutgoingMessage[])[]): Promise<number> {
  return withDestination(shared, 'raw', async (transport) => {
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    for (const batch of batches) await transport.publish('events', batch);
    const ms = performance.now() - t0;
    log(`    raw: node cpu ${cpuPercent(cpu, ms).toFixed(0)}%`);
    return (batches.reduce((n, b) => n + b.length, 0) * 1000) / ms;
  });
}

async function slidingRun(shared: Shared, chunks: readonly (readonly OutgoingMessage[])[], size: number): Promise<number> {
  const lanes = Math.max(1, Math.floor(WINDOW / size));
  return withDestination(shared, 'sld', async (transport) => {
    const cpu = process.cpuUsage();
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: lanes }, async () => {
        for (let i = next++; i < chunks.length; i = next++) await transport.publish('events', chunks[i]!);
      }),
    );
    const ms = performance.now() - t0;
    log(`    raw_sliding (chunks of ${size}): node cpu ${cpuPercent(cpu, ms).toFixed(0)}%`);
    return (TOTAL * 1000) / ms;
  });
}

async function relayRun(shared: Shared): Promise<number> {
  const { context, relayPool, timings } = shared;
  const lastId = shared.messages[TOTAL - 1]!.id;
  return withDestination(shared, 'rly', async (transport) => {
    const publishes: Span[] = [];
    let published = 0;
    let sawLast!: () => void;
    const lastConfirmed = new Promise<void>((resolve) => (sawLast = resolve));
    // Delegates every call; only timestamps publish() and notices the page holding the last event.
    const timed: Transport = {
      kind: transport.kind,
      publish: async (channel, messages) => {
        const start = performance.now();
        await transport.publish(channel, messages);
        publishes.push([start, performance.now()]);
        published += messages.length;
        if (messages[messages.length - 1]?.id === lastId) sawLast();
      },
      consume: (options, onDelivery) => transport.consume(options, onDelivery),
      health: () => transport.health(),
      close: () => transport.close(),
    };
    const name = `relay-bench-${runCounter}`;
    const herald = createHerald({ pool: relayPool, context });
    herald.relay({ transport: timed, window: WINDOW, name, collectAcknowledgements: false });
    timings.reset();
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    await herald.start();
    try {
      await withTimeout(lastConfirmed, `relay ${transport.kind}`);
      // The page is confirmed; the run ends when its checkpoint is committed.
      for (;;) {
        const { rows } = await relayPool.query<{ position: string }>(`SELECT position FROM "${context}".subscriptions WHERE name = $1`, [name]);
        if (Number(rows[0]?.position) >= TOTAL) break;
      }
      const ms = performance.now() - t0;
      const cpuUsed = cpuPercent(cpu, ms);
      // A page published again means a broker failure during the run: not a measurement.
      if (published !== TOTAL) throw new Error(`the relay published ${fmt(published)} messages for ${fmt(TOTAL)} events`);
      logBreakdown(t0, ms, publishes, timings, cpuUsed);
      return (TOTAL * 1000) / ms;
    } finally {
      await herald.stop();
    }
  });
}

const sum = (spans: readonly Span[]) => spans.reduce((s, [a, b]) => s + (b - a), 0);

/**
 * Where a relay run's wall time went, on one timeline from `herald.start()` to the last checkpoint.
 * The relay keeps several pages in flight (`pipeline` in the runner), so time is attributed by
 * what was going on at each instant, in this priority: at least one page being published
 * (`publishing`, with the mean number of pages in flight), else a read of the log in progress
 * (`waiting for reads`), else a checkpoint in progress, else nothing the broker or the database
 * was doing for the relay: encoding pages, the loop, start-up (`node only`). Reads that overlap
 * publishing are counted apart (`reading`, overlapped or not).
 */
function logBreakdown(t0: number, ms: number, publishes: readonly Span[], timings: { read: Span[]; checkpoint: Span[] }, cpu: number): void {
  const t1 = t0 + ms;
  type Kind = 0 | 1 | 2; // publish, read, checkpoint
  const edges: [time: number, kind: Kind, delta: 1 | -1][] = [];
  const add = (spans: readonly Span[], kind: Kind) => {
    for (const [a, b] of spans) {
      const start = Math.max(a, t0);
      const end = Math.min(b, t1);
      if (end > start) edges.push([start, kind, 1], [end, kind, -1]);
    }
  };
  add(publishes, 0);
  add(timings.read, 1);
  add(timings.checkpoint, 2);
  edges.sort((x, y) => x[0] - y[0]);
  const open = [0, 0, 0];
  const time = { publishing: 0, reads: 0, checkpoints: 0, nodeOnly: 0 };
  let pageTime = 0;
  let last = t0;
  const attribute = (until: number) => {
    const d = until - last;
    if (d <= 0) return;
    if (open[0]! > 0) {
      time.publishing += d;
      pageTime += d * open[0]!;
    } else if (open[1]! > 0) time.reads += d;
    else if (open[2]! > 0) time.checkpoints += d;
    else time.nodeOnly += d;
  };
  for (const [at, kind, delta] of edges) {
    attribute(at);
    last = Math.max(last, at);
    open[kind]! += delta;
  }
  attribute(t1);
  const per = (x: number) => `${fmt(x)} ms`;
  const firstRead = Math.min(...timings.read.map(([a]) => a)) - t0;
  log(
    `    relay: ${per(ms)} = publishing ${per(time.publishing)} (${publishes.length} pages, ${(pageTime / Math.max(1, time.publishing)).toFixed(1)} in flight on average)` +
      ` + waiting for reads ${per(time.reads)} + checkpoints ${per(time.checkpoints)} + node only ${per(time.nodeOnly)} (encoding, loop, start-up: ${per(firstRead)} to the first read)` +
      `; reading ${per(sum(timings.read))} in ${timings.read.length} reads, checkpoints ${per(sum(timings.checkpoint))} in ${timings.checkpoint.length}; node cpu ${cpu.toFixed(0)}%`,
  );
}

// ------------------------------------------------------------------ end to end

interface Latencies {
  p50: number;
  p99: number;
  max: number;
  count: number;
  /** What the writers achieved (events/s). */
  rate: number;
  /** Measured events over the time from the first one's commit to the last one's handling (events/s). */
  consumerRate: number;
}

async function endToEnd(ctx: RelayBenchContext, admin: BrokerAdmin, broker: Broker): Promise<Latencies> {
  const senderContext = ctx.schemas.name(`e2e_${broker}_s`);
  const receiverContext = ctx.schemas.name(`e2e_${broker}_r`);
  const group = 'bench';
  const pool = extraPool(ctx.url, 20);
  const relayTransport = await admin.defaultTransport();
  const consumerTransport = await admin.defaultTransport();
  try {
    await Promise.all(Array.from({ length: 20 }, () => pool.query('SELECT 1')));
    const sender = createHerald({ pool, context: senderContext });
    const receiver = createHerald({ pool, context: receiverContext });
    await sender.migrate();
    await receiver.migrate();
    const handled = new Map<string, number>();
    // When the broker confirmed each event (the relay's publish resolved): splits the latency in two legs.
    const confirmed = new Map<string, number>();
    const stamping: Transport = {
      kind: relayTransport.kind,
      publish: async (channel, messages) => {
        await relayTransport.publish(channel, messages);
        const at = wallNow();
        if (channel === 'events') for (const m of messages) if (!confirmed.has(m.id)) confirmed.set(m.id, at);
      },
      consume: (options, onDelivery) => relayTransport.consume(options, onDelivery),
      health: () => relayTransport.health(),
      close: () => relayTransport.close(),
    };
    sender.relay({ transport: stamping, window: WINDOW });
    receiver.consume({
      transport: consumerTransport,
      name: group,
      source: senderContext,
      handlers: {
        OrderPlaced: (_event, metadata) => {
          if (!handled.has(metadata.eventId)) handled.set(metadata.eventId, wallNow());
        },
      },
    });
    await receiver.start();
    await sender.start();
    try {
      const { eventsPerSecond, warmupMs, measureMs } = E2E;
      const total = Math.round(((warmupMs + measureMs) / 1000) * eventsPerSecond);
      const firstMeasured = Math.round((warmupMs / 1000) * eventsPerSecond);
      const { commits, seconds, maxBehindMs } = await openLoop({
        total,
        perSecond: eventsPerSecond,
        firstMeasured,
        write: async (i) => {
          const streamId = `order-${randomUUID()}`;
          return (await sender.append(streamId, { type: 'OrderPlaced', data: orderPayload(streamId, i) })).eventIds;
        },
      });
      const rate = total / seconds;
      const deadline = Date.now() + 30_000;
      while (commits.some(([id]) => !handled.has(id))) {
        if (Date.now() > deadline) {
          const missing = commits.filter(([id]) => !handled.has(id)).length;
          throw new Error(`e2e ${broker}: ${missing} events not handled within 30 s of the last commit`);
        }
        await sleep(20);
      }
      const latencies = commits.map(([id, at]) => handled.get(id)! - at);
      const span = Math.max(...commits.map(([id]) => handled.get(id)!)) - Math.min(...commits.map(([, at]) => at));
      const consumerRate = (commits.length * 1000) / span;
      const result = { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: Math.max(...latencies), count: latencies.length, rate, consumerRate };
      const toBroker = commits.map(([id, at]) => (confirmed.get(id) ?? Number.NaN) - at).filter(Number.isFinite);
      const toHandler = commits.map(([id]) => handled.get(id)! - (confirmed.get(id) ?? Number.NaN)).filter(Number.isFinite);
      const legs = (values: number[]) => `p50 ${percentile(values, 50).toFixed(1)} / p99 ${percentile(values, 99).toFixed(1)} ms`;
      log(
        `  e2e ${broker}: ${fmt(result.count)} events measured; p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, ` +
          `max ${result.max.toFixed(1)} ms; writers achieved ${fmt(rate)} events/s (schedule fell behind by up to ${maxBehindMs.toFixed(1)} ms), ` +
          `delivered ${fmt(consumerRate)} events/s; commit → broker confirm ${legs(toBroker)}, confirm → handler ${legs(toHandler)} ` +
          `(a handler may run before the confirm arrives: negative); load ${load()}`,
      );
      return result;
    } finally {
      await receiver.stop();
      await sender.stop();
    }
  } finally {
    await relayTransport.close();
    await consumerTransport.close();
    await admin.dropContext(senderContext, group);
    await pool.end();
  }
}

// ------------------------------------------------------------------ the group

export async function relayBench(ctx: RelayBenchContext): Promise<BenchResult[]> {
  log(
    `relay: ${fmt(TOTAL)} events, window ${WINDOW}, sliding chunks ${SLIDING_CHUNKS.join('/')}, ${ROUNDS} round(s), ` +
      `brokers ${BROKERS.join(', ')}, parts ${[...PARTS].join(', ')}`,
  );
  const results: BenchResult[] = [];
  if (PARTS.has('ratio')) results.push(...(await throughput(ctx)));
  if (PARTS.has('e2e')) {
    for (const broker of BROKERS) {
      const admin = await openAdmin(broker);
      const e2e = await retryOnce(`e2e ${broker}`, () => endToEnd(ctx, admin, broker));
      results.push(
        { name: `e2e_p50_ms_${broker}${E2E_SUFFIX}`, value: round(e2e.p50, 2), unit: 'ms', baseline: null, ratio: null },
        { name: `e2e_p99_ms_${broker}${E2E_SUFFIX}`, value: round(e2e.p99, 2), unit: 'ms', baseline: null, ratio: null },
        { name: `e2e_max_ms_${broker}${E2E_SUFFIX}`, value: round(e2e.max, 2), unit: 'ms', baseline: null, ratio: null },
        { name: `e2e_rate_${broker}${E2E_SUFFIX}`, value: round(e2e.rate, 1), unit: 'events/s', baseline: null, ratio: null },
        { name: `e2e_delivered_rate_${broker}${E2E_SUFFIX}`, value: round(e2e.consumerRate, 1), unit: 'events/s', baseline: null, ratio: null },
      );
    }
  }
  return results;
}

async function throughput(ctx: RelayBenchContext): Promise<BenchResult[]> {
  const { url, runtimePool, schemas } = ctx;
  const context = schemas.name('relay');
  await seed(runtimePool, context);
  const messages = await encodeAll(runtimePool, context);
  const batches = pages(messages, WINDOW);
  const chunked = SLIDING_CHUNKS.map((size) => ({ size, chunks: pages(messages, size) }));
  // The relay's own pool, so that its statements (and only its) are timed.
  const relayPool = extraPool(url, 10);
  const timings = instrument(relayPool);
  const results: BenchResult[] = [];
  try {
    for (const broker of BROKERS) {
      const admin = await openAdmin(broker);
      const shared: Shared = { prefix: schemas.prefix, context, messages, admin, relayPool, timings };
      log(`  ${broker}: warming up (a raw run of 20 pages)`);
      await retryOnce(`${broker} warm-up`, () => rawRun(shared, batches.slice(0, 20)));
      const variants: Record<string, () => Promise<number>> = {
        relay: () => relayRun(shared),
        raw: () => rawRun(shared, batches),
      };
      for (const { size, chunks } of chunked) variants[`raw_sliding_${size}`] = () => slidingRun(shared, chunks, size);
      for (const [key, run] of Object.entries(variants)) variants[key] = () => retryOnce(`${broker} ${key}`, run);
      const runs = await interleaved(ROUNDS, variants, { label: `relay ${broker}`, unit: 'events/s' });
      const relay = median(runs.relay!);
      const raw = median(runs.raw!);
      // The sliding baseline is the fastest chunking measured: the best plain code with W in flight.
      const [bestChunk, sliding] = chunked
        .map(({ size }) => [size, median(runs[`raw_sliding_${size}`]!)] as const)
        .reduce((best, next) => (next[1] > best[1] ? next : best));
      if (chunked.length > 1) log(`  relay ${broker}: sliding baseline = chunks of ${bestChunk} (the fastest)`);
      results.push(
        ratioResult(`relay_ratio_${broker}${SUFFIX}`, relay, raw, 'events/s'),
        ratioResult(`relay_ratio_sliding_${broker}${SUFFIX}`, relay, sliding, 'events/s'),
        { name: `relay_${broker}${SUFFIX}_per_s`, value: round(relay, 1), unit: 'events/s', baseline: null, ratio: null },
        { name: `relay_raw_${broker}${SUFFIX}_per_s`, value: round(raw, 1), unit: 'events/s', baseline: null, ratio: null },
        { name: `relay_raw_sliding_${broker}${SUFFIX}_per_s`, value: round(sliding, 1), unit: 'events/s', baseline: null, ratio: null },
      );
    }
  } finally {
    await relayPool.end();
  }
  return results;
}
