/**
 * `inbox_ratio` and `parked_flow_ratio`.
 *
 * - `inbox_ratio`: 8 concurrent consumers, each message in its own transaction that writes one row
 *   (a named prepared INSERT). `inbox`: the same transaction also records the message id through
 *   `herald.inbox.record()` (the statement `inbox.handle()` runs). `plain`: without it. Same pool,
 *   same connections, same durability; interleaved rounds, medians. Target ≥ 0.8. Also reported:
 *   `inbox_round_trip_floor`, the same with a no-op `SELECT` in place of the inbox insert.
 * - `parked_flow_ratio`: a log of events spread over 100 streams; a subscription whose handler
 *   writes one row per event catches up from the origin. `parked`: the first event of one stream
 *   fails and is parked, so that stream's later events are stored as waiting behind it while the
 *   other 99 flow. `none`: nothing fails. Both count the 99 other streams' events per second, from
 *   `start()` until the checkpoint reaches the head. Target ≥ 0.9.
 */
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { createHerald, park } from '../src/index.js';
import { type BenchResult, QUICK, checkpoint, fmt, interleaved, log, median, ratioResult, runWriters, type Schemas } from './lib.js';

export interface FailuresContext {
  readonly runtimePool: pg.Pool;
  readonly writerPool: pg.Pool;
  readonly schemas: Schemas;
}

const CONSUMERS = 8;
const RUN_MS = QUICK ? 1000 : 3000;
const ROUNDS = QUICK ? 1 : 5;
const STREAMS = 100;
const EVENTS_PER_STREAM = QUICK ? 40 : 200;
const FLOW_ROUNDS = QUICK ? 1 : 3;

async function inboxBench(ctx: FailuresContext): Promise<BenchResult[]> {
  const context = ctx.schemas.name('inbox');
  const herald = createHerald({ pool: ctx.runtimePool, context });
  await herald.migrate();
  await ctx.runtimePool.query(`CREATE TABLE ${context}.payments (message_id text NOT NULL, amount int NOT NULL)`);
  const insert = `INSERT INTO ${context}.payments (message_id, amount) VALUES ($1, $2)`;
  let run = 0;
  const consume = (extra: 'inbox' | 'round-trip' | 'none') => async (ms: number) => {
    await checkpoint(ctx.runtimePool);
    const tag = `${extra}${run++}`;
    const result = await runWriters(ctx.writerPool, CONSUMERS, ms, async (client, writer, i) => {
      const messageId = `${tag}-${writer}-${i}`;
      if (extra === 'inbox' && !(await herald.inbox.record(client, 'bench', messageId))) return 0;
      if (extra === 'round-trip') await client.query({ name: 'bench-noop', text: 'SELECT $1::text, $2::text', values: ['bench', messageId] });
      await client.query({ name: 'bench-pay', text: insert, values: [messageId, 10] });
      return 1;
    });
    return result.eventsPerSecond;
  };
  log(`inbox: ${CONSUMERS} consumers, ${RUN_MS} ms per run, ${ROUNDS} round(s)`);
  await consume('none')(500);
  await consume('inbox')(500);
  const runs = await interleaved(
    ROUNDS,
    { plain: () => consume('none')(RUN_MS), inbox: () => consume('inbox')(RUN_MS), round_trip: () => consume('round-trip')(RUN_MS) },
    { label: 'inbox', unit: 'messages/s' },
  );
  return [
    ratioResult('inbox_ratio', median(runs.inbox), median(runs.plain), 'messages/s'),
    // Informational: the same transaction with a no-op statement instead of the inbox insert. The
    // price of one more round trip here, which bounds what any inbox recorded in the transaction can reach.
    ratioResult('inbox_round_trip_floor', median(runs.round_trip), median(runs.plain), 'messages/s'),
  ];
}

async function parkedFlowBench(ctx: FailuresContext): Promise<BenchResult> {
  const context = ctx.schemas.name('flow');
  const pool = ctx.runtimePool;
  const seeder = createHerald({ pool, context });
  await seeder.migrate();
  await pool.query(`CREATE TABLE ${context}.projection (stream text NOT NULL, version int NOT NULL)`);
  for (let round = 0; round < EVENTS_PER_STREAM; round++) {
    await seeder.transaction(async (tx) => {
      for (let s = 0; s < STREAMS; s++) await seeder.append(tx, `flow-${s}`, { type: 'Priced', data: { round, s } });
    });
  }
  await seeder.start(); // sequences the seed
  for (;;) {
    const status = await seeder.status();
    if (status.unsequenced === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const head = (await seeder.status()).head;
  await seeder.stop();
  for (const table of ['events', 'positions']) await pool.query(`VACUUM ANALYZE ${context}.${table}`);
  const others = (STREAMS - 1) * EVENTS_PER_STREAM;
  log(`parked flow: ${fmt(head)} events in ${STREAMS} streams, ${FLOW_ROUNDS} round(s)`);

  let run = 0;
  const catchUp = (poisoned: boolean) => async () => {
    const name = `flow-${poisoned ? 'parked' : 'none'}-${run++}`;
    const herald = createHerald({ pool, context, sequencer: false, pollMs: 20 });
    herald.subscribe({
      name,
      onError: () => park('bench poison'),
      async handle(_event, meta, { tx }) {
        if (poisoned && meta.streamId === 'flow-0' && meta.streamVersion === 1) throw new Error('poison');
        await tx.query({ name: 'bench-project', text: `INSERT INTO ${context}.projection VALUES ($1, $2)`, values: [meta.streamId, meta.streamVersion] });
      },
    });
    await checkpoint(pool);
    const t0 = performance.now();
    await herald.start();
    for (;;) {
      const status = (await herald.status()).subscriptions.find((s) => s.name === name);
      if (status && status.position >= head) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const seconds = (performance.now() - t0) / 1000;
    await herald.stop();
    return others / seconds;
  };
  const runs = await interleaved(FLOW_ROUNDS, { none: catchUp(false), parked: catchUp(true) }, { label: 'parked flow', unit: 'events/s' });
  return ratioResult('parked_flow_ratio', median(runs.parked), median(runs.none), 'events/s');
}

export async function failuresBench(ctx: FailuresContext): Promise<BenchResult[]> {
  return [...(await inboxBench(ctx)), await parkedFlowBench(ctx)];
}
